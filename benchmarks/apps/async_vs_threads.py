"""The same view twice, for benchmarks/async_vs_threads.py: wait 50 ms (a database query or
an API call), then answer a small JSON body.

- `async_app`: an ASGI app that awaits the wait; the loop serves others meanwhile.
- `sync_app`: a WSGI app that blocks its thread for the wait (hurtle's thread pool).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

WAIT = float(os.environ.get("BENCH_WAIT", "0.05"))
BODY = b'{"ok":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


async def async_app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    await asyncio.sleep(WAIT)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def sync_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    time.sleep(WAIT)
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]
