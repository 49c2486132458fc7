"""--asgi-strict has no false alarms: Starlette and FastAPI, which keep to the
spec, run through it without one violation (routes, forms, gzip, static files
with ranges and 304s, streaming, a WebSocket with a subprotocol, lifespan)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from support import ServerProcess


def test_starlette_under_strict_mode(start_server: Callable[..., ServerProcess]) -> None:
    from websockets.sync.client import connect

    server = start_server("frameworks.starlette_app:app", "--asgi-strict")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/").status_code == 200
        assert client.get("/users/42").status_code == 200
        assert client.get("/users/nope").status_code == 404
        assert client.post("/form", data={"a": "1"}).json() == {"a": "1"}
        assert client.get("/big", headers={"Accept-Encoding": "gzip"}).status_code == 200
        assert client.get("/static/hello.txt").status_code == 200
        assert client.get("/static/hello.txt", headers={"Range": "bytes=0-4"}).status_code == 206
        assert client.head("/static/page.html").status_code == 200
        assert client.get("/static/missing.txt").status_code == 404
    url = server.url.replace("http", "ws", 1) + "/ws/lobby"
    with connect(url, subprotocols=["echo.v1"], open_timeout=10) as ws:  # type: ignore[list-item]
        ws.send("hi")
        assert ws.recv(timeout=10) == "lobby: hi"
    assert "ASGI violation" not in server.output, server.output


def test_fastapi_under_strict_mode(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server("frameworks.fastapi_app:app", "--asgi-strict")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/items", json={"name": "a", "price": 1.5}).status_code in (200, 201)
        assert client.get("/items").status_code in (200, 401, 422)
        assert client.get("/sync").status_code == 200
        assert client.get("/stream", params={"count": 3}).status_code == 200
        assert client.get("/state").status_code == 200
        assert client.get("/nowhere").status_code == 404
    assert "ASGI violation" not in server.output, server.output
