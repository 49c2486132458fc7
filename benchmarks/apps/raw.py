"""Raw ASGI 3 apps for the HTTP workloads: the same module for every server benchmarked.

One app routes on the path to a handler per workload, so a server is started
once per measurement with `raw:app` whatever the workload. The route lookup is
one dict access, identical for every server.

    /plaintext  13 bytes of text, Content-Length set
    /json       a small JSON object, serialized per request
    /upload     reads the whole request body, answers with its length
    /stream     1 MiB in sixteen 64 KiB `http.response.body` messages (chunked)
    /sleep      awaits 50 ms, then answers like /plaintext
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PLAINTEXT = b"Hello, world!"
PLAINTEXT_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
CHUNK = b"x" * (64 * 1024)
CHUNKS = 16  # 16 x 64 KiB = 1 MiB.
SLEEP_SECONDS = 0.05


async def plaintext(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": PLAINTEXT_HEADERS})
    await send({"type": "http.response.body", "body": PLAINTEXT})


async def json_message(scope: Scope, receive: Receive, send: Send) -> None:
    body = json.dumps({"message": "Hello, world!"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    size = 0
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] != "http.request":
            return  # The client went away.
        size += len(message.get("body", b""))
        more_body = message.get("more_body", False)
    body = b"%d" % size
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"application/octet-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for _ in range(CHUNKS - 1):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": CHUNK})


async def sleep(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.sleep(SLEEP_SECONDS)
    await plaintext(scope, receive, send)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"9")]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": b"not found"})


ROUTES: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {
    "/plaintext": plaintext,
    "/json": json_message,
    "/upload": upload,
    "/stream": stream,
    "/sleep": sleep,
}


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await ROUTES.get(scope["path"], not_found)(scope, receive, send)
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
