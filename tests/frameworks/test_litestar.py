"""Litestar through a real hurtle process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from support import ServerProcess


@pytest.fixture(scope="module")
def client(start_server: Callable[..., ServerProcess]) -> Iterator[httpx.Client]:
    server = start_server("frameworks.litestar_app:app")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_text_and_path_params(client: httpx.Client) -> None:
    assert client.get("/").text == "Litestar says hello"
    assert client.get("/books/1").json() == {"id": 1, "title": "Dune"}
    missing = client.get("/books/99")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no book 99"


def test_json_body_validation(client: httpx.Client) -> None:
    created = client.post("/books", json={"title": "Emma", "year": 1815})
    assert created.status_code == 201
    assert created.json() == {"title": "EMMA", "year": 1815}
    assert client.post("/books", json={"title": "no year"}).status_code == 400


def test_lifespan_state_and_sync_handler(client: httpx.Client) -> None:
    assert client.get("/greeting").json() == {
        "greeting": "hello from the Litestar lifespan",
        "client": "127.0.0.1",
    }
    assert client.get("/sync", params={"n": 4}).json() == [0, 1, 2, 3]


def test_stream(client: httpx.Client) -> None:
    response = client.get("/stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text == "0\n1\n2\n3\n4\n"


def test_websocket_listener(client: httpx.Client) -> None:
    from websockets.sync.client import connect

    with connect(str(client.base_url).replace("http", "ws", 1) + "/ws", open_timeout=10) as ws:
        ws.send("quiet")
        assert ws.recv(timeout=10) == "QUIET"
