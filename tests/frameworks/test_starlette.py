"""Starlette through a real hurtle process: routes, a WebSocket, lifespan state,
StaticFiles and middleware, mounted below a proxy prefix (--root-path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from frameworks.conftest import FRAMEWORKS_DIR
from support import ServerProcess


@pytest.fixture(scope="module")
def client(start_server: Callable[..., ServerProcess]) -> Iterator[httpx.Client]:
    server = start_server("frameworks.starlette_app:app", "--root-path", "/prefix")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_route_and_middleware(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.text == "Starlette says hello"
    assert response.headers["x-middleware"] == "base-http"
    assert response.headers["x-pure-asgi"] == "yes"


def test_path_params_lifespan_state_and_root_path(client: httpx.Client) -> None:
    first = client.get("/users/42", params={"q": "x"}).json()
    second = client.get("/users/43").json()
    assert first["user_id"] == 42 and first["query"] == {"q": "x"}
    assert first["greeting"] == "hello from the Starlette lifespan"
    assert second["visits"] == first["visits"] + 1
    # url_for knows the app is mounted at /prefix.
    assert first["url"] == f"{client.base_url}/prefix/users/7"
    assert client.get("/users/not-a-number").status_code == 404


def test_form_post(client: httpx.Client) -> None:
    response = client.post("/form", data={"a": "1", "b": "two words"})
    assert response.json() == {"a": "1", "b": "two words"}


def test_gzip_middleware(client: httpx.Client) -> None:
    response = client.get("/big", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < 2000
    assert response.text == "compress me " * 2000


def test_static_files(client: httpx.Client) -> None:
    expected = (FRAMEWORKS_DIR / "static" / "hello.txt").read_bytes()
    response = client.get("/static/hello.txt")
    assert response.status_code == 200
    assert response.content == expected
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["content-length"] == str(len(expected))
    etag = response.headers["etag"]
    assert client.get("/static/hello.txt", headers={"If-None-Match": etag}).status_code == 304
    head = client.head("/static/page.html")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/html")
    ranged = client.get("/static/hello.txt", headers={"Range": "bytes=0-4"})
    assert ranged.status_code == 206 and ranged.content == expected[:5]
    assert client.get("/static/missing.txt").status_code == 404


def test_websocket(client: httpx.Client) -> None:
    from websockets.sync.client import connect

    url = str(client.base_url).replace("http", "ws", 1) + "/ws/lobby"
    with connect(url, subprotocols=["echo.v1"], open_timeout=10) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "echo.v1"
        ws.send("hi")
        assert ws.recv(timeout=10) == "lobby: hi"
        ws.send("again")
        assert ws.recv(timeout=10) == "lobby: again"
