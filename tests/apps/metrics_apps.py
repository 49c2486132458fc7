"""An app for tests/e2e/test_metrics.py: /status?CODE answers CODE, /slow?S sleeps S
seconds first, and a WebSocket echoes every message."""

from __future__ import annotations

import asyncio

from hurtle.asgi.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
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
