"""Apps for the multi-process tests: every response names the worker process that served it.

- `/`: the worker's pid.
- `/slow?SECONDS`: waits (without blocking the loop), then "slow done"; it
  appends "slow-start" to the file named by $WORKER_MARKERS when it begins.
- `/block?SECONDS`: `time.sleep()` inside the async view: the worker's event
  loop is blocked, as by a CPU-bound or synchronous call.
"""

from __future__ import annotations

import asyncio
import os
import time

from apps.basic import respond, serve_lifespan
from hurtle.asgi.types import Receive, Scope, Send

MARKERS = "WORKER_MARKERS"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    path = scope["path"]
    seconds = float(scope["query_string"] or b"1")
    if path == "/slow":
        marker = os.environ.get(MARKERS)
        if marker:
            with open(marker, "a", encoding="ascii") as handle:  # noqa: ASYNC230 - tiny, local
                handle.write("slow-start\n")
        await asyncio.sleep(seconds)
        await respond(send, 200, b"slow done")
    elif path == "/block":
        await blocking_view(send, seconds)
    else:
        await respond(send, 200, str(os.getpid()).encode())


async def blocking_view(send: Send, seconds: float) -> None:
    time.sleep(seconds)  # noqa: ASYNC251 - blocking the loop is the point
    await respond(send, 200, b"woke up")
