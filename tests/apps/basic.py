"""A small raw ASGI app with one route per behaviour the tests look at."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

from hurtle.asgi.types import ASGIApp, Message, Receive, Scope, Send

SOURCE = os.path.abspath(__file__)  # What /pathsend sends.


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def body_reader_held_until(release: threading.Event, sizes: list[int]) -> ASGIApp:
    """An app that reads no body until `release` is set, then reads it all and
    answers its size (also noted in `sizes`): a client's body waits meanwhile."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while not release.is_set():
            await asyncio.sleep(0.02)
        body = await read_body(receive)
        sizes.append(len(body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"%d" % len(body)})

    return app


def jsonable_scope(scope: Scope) -> dict[str, Any]:
    return {
        "type": scope["type"],
        "asgi": scope["asgi"],
        "http_version": scope["http_version"],
        "method": scope["method"],
        "scheme": scope["scheme"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query_string": scope["query_string"].decode("latin-1"),
        "root_path": scope["root_path"],
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "client": list(scope["client"]) if scope["client"] else None,
        "server": list(scope["server"]) if scope["server"] else None,
        "state": {k: v for k, v in scope.get("state", {}).items() if isinstance(v, str | int)},
        "extensions": sorted(scope.get("extensions", {})),
        # Every field of the extension is a str, an int, None or a list of str.
        "tls": dict(scope.get("extensions", {}).get("tls", {})),
    }


async def respond(send: Send, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": headers or [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def serve_lifespan(receive: Receive, send: Send) -> None:
    """Answer a lifespan scope: startup and shutdown both complete."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "hello from lifespan"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if scope["root_path"] and path.startswith(scope["root_path"]):
        path = path[len(scope["root_path"]) :]
    if path.startswith("/scope"):
        await read_body(receive)
        await respond(
            send,
            200,
            json.dumps(jsonable_scope(scope)).encode(),
            [(b"content-type", b"application/json")],
        )
    elif path == "/echo":
        body = await read_body(receive)
        await respond(send, 200, body)
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"chunk%d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/slow":
        await read_body(receive)
        await asyncio.sleep(float(scope["query_string"] or b"1"))
        await respond(send, 200, b"slow done")
    elif path == "/error":
        raise RuntimeError("boom")
    elif path == "/error-after-start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom after start")
    elif path == "/no-response":
        return
    elif path == "/status":
        code = int(scope["query_string"] or b"200")
        await respond(send, code, b"" if code in (204, 304) else b"status body")
    elif path == "/pathsend":
        # This module's own source, with its length declared (sendfile on cleartext HTTP/1.1).
        await read_body(receive)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % os.path.getsize(SOURCE))],  # noqa: ASYNC240
            }
        )
        await send({"type": "http.response.pathsend", "path": SOURCE})
    elif path == "/wait-disconnect":
        await read_body(receive)
        event: Message = await receive()
        await respond(send, 200, event["type"].encode())
    else:
        await read_body(receive)
        await respond(send, 200, b"Hello, world!")
