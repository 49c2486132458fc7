"""An app that shows what the scope says about the connection, for the proxy tests."""

from __future__ import annotations

import json

from apps.basic import serve_lifespan
from hurtle.asgi.types import Receive, Scope, Send


async def scope_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with what the scope says about the connection, for HTTP and WebSocket."""
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
    info = json.dumps(
        {
            "type": scope["type"],
            "client": list(scope["client"]) if scope["client"] else None,
            "server": list(scope["server"]) if scope["server"] else None,
            "scheme": scope["scheme"],
            "host": hosts,
        }
    )
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": info})
        await send({"type": "websocket.close", "code": 1000})
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": info.encode()})
