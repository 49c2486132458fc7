"""ASGI www.rst: `receive()` after the response was sent returns http.disconnect, also
when it was already waiting (Litestar and older Starlette listen for disconnect in a
task while they stream, and end only when that listener returns)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from hurtle.asgi.types import Message, Receive, Scope, Send
from support import InProcessServer


def test_waiting_receive_gets_disconnect_when_the_response_ends(
    serve_app: Callable[..., InProcessServer],
) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()  # the (empty) request body

        async def listen() -> None:
            message: Message = await receive()
            seen.append(message["type"])

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0)  # the listener now waits in receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        await asyncio.wait_for(listener, 5)

    server = serve_app(app)
    with httpx.Client(timeout=10) as client:
        assert client.get(server.url).text == "part"
        assert client.get(server.url).text == "part"  # the same keep-alive connection
    # The client may read the response before the app's listener has run.
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["http.disconnect", "http.disconnect"]
