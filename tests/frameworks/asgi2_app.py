"""An ASGI 2 app in the style of the first ASGI frameworks (Channels 2, early Starlette):
a class instantiated per scope, whose instance is awaited with (receive, send)."""

from __future__ import annotations

import json
from typing import Any

from hurtle.asgi.types import Receive, Scope, Send


class Application:
    started: list[str] = []

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        if self.scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif self.scope["path"] == "/stream":
            await self.stream(send)
        else:
            await self.echo(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                Application.started.append("startup")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def echo(self, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        reply: dict[str, Any] = {
            "method": self.scope["method"],
            "path": self.scope["path"],
            "asgi": self.scope["asgi"],
            "body": body.decode(),
            "started": Application.started,
        }
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(reply).encode()})

    async def stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"asgi ", b"two ", b"streams"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
