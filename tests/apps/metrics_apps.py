"""An app for tests/e2e/test_metrics.py: /status?CODE answers CODE, /slow?S sleeps S
seconds first, and a WebSocket echoes every message."""

from __future__ import annotations

import asyncio

from apps.basic import serve_lifespan
from hurtle.asgi.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message.get("text") or ""})
    while (await receive()).get("more_body"):
        pass
    query = scope["query_string"].decode()
    if scope["path"] == "/slow":
        await asyncio.sleep(float(query))
    status = int(query) if scope["path"] == "/status" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"body"})
