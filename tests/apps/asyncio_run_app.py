"""An app whose import runs set-up with `asyncio.run()`, as some apps do.

`asyncio.run()` refuses to start inside a running event loop: hurtle must
import this module before its loop starts. The page answers with what the
set-up returned and the pid that serves it.
"""

from __future__ import annotations

import asyncio
import os

from apps.basic import read_body, respond
from hurtle.asgi.types import Receive, Scope, Send


async def _set_up() -> str:
    await asyncio.sleep(0)
    return f"set up by asyncio.run() at import by {os.getpid()}"


SET_UP = asyncio.run(_set_up())


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await read_body(receive)
    await respond(send, 200, f"{SET_UP}, served by {os.getpid()}".encode())
