"""The app behind the real proxies of tests/deploy/: what reaches the scope,
a streamed upload, server-sent events and a WebSocket, each observable by the
test that drives it through nginx or HAProxy."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

from apps.basic import serve_lifespan
from hurtle.asgi.types import Receive, Scope, Send


def described(scope: Scope) -> dict[str, Any]:
    """What the scope says about the request and the connection it came on."""
    return {
        "type": scope["type"],
        "http_version": scope.get("http_version"),
        "client": list(scope["client"]) if scope["client"] else None,
        "scheme": scope["scheme"],
        "host": [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"],
        "pid": os.getpid(),
    }


class DeployApp:
    """One instance per in-process server; its attributes are what the test observes."""

    def __init__(self) -> None:
        self.upload_bytes = 0  # Body bytes the app has received so far on /upload.
        self.first_event_seen = threading.Event()  # Set by the test on the first SSE event.

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
        elif scope["path"] == "/upload":
            await self.upload(receive, send)
        elif scope["path"] == "/events":
            await self.events(receive, send)
        else:
            while (await receive()).get("more_body"):
                pass
            await self.json(send, described(scope))

    async def lifespan(self, receive: Receive, send: Send) -> None:
        await serve_lifespan(receive, send)

    async def json(self, send: Send, body: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    async def upload(self, receive: Receive, send: Send) -> None:
        """Counts the body as it arrives and keeps none of it."""
        chunks = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            self.upload_bytes += len(message.get("body", b""))
            chunks += 1
            if not message.get("more_body"):
                break
        await self.json(send, {"bytes": self.upload_bytes, "chunks": chunks})

    async def events(self, receive: Receive, send: Send) -> None:
        """Server-sent events: the second event is produced only once the client
        has the first (or after 10 s), and says which of the two happened."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    # nginx passes this response on as it comes instead of buffering it.
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
        seen = await asyncio.to_thread(self.first_event_seen.wait, 10)
        body = b"data: second, client had the first: %s\n\n" % str(seen).lower().encode()
        await send({"type": "http.response.body", "body": body})

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sends the scope's description, then echoes text until the client closes."""
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(described(scope))})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": "echo: " + (message.get("text") or "")})


app = DeployApp()
