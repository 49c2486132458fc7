"""A WebSocket echo app that configures the root logger at import, as Litestar's
default logging does: every logger that propagates to the root prints at INFO."""

from __future__ import annotations

import logging

from hurtle.asgi.types import Receive, Scope, Send

logging.basicConfig(level=logging.INFO)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        else:
            return
