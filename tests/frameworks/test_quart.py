"""Quart through a real hurtle process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from support import ServerProcess


@pytest.fixture(scope="module")
def client(start_server: Callable[..., ServerProcess]) -> Iterator[httpx.Client]:
    server = start_server("frameworks.quart_app:app")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_index_and_errors(client: httpx.Client) -> None:
    assert client.get("/").text == "Quart says hello"
    assert client.get("/teapot").status_code == 418
    assert client.get("/missing").status_code == 404


def test_json_and_serving_hooks(client: httpx.Client) -> None:
    response = client.post("/json", json={"a": [1, 2]})
    # before_serving ran during the lifespan startup hurtle drives.
    assert response.json() == {"received": {"a": [1, 2]}, "started": ["before_serving"]}


def test_form_and_upload(client: httpx.Client) -> None:
    response = client.post(
        "/form", data={"name": "quart"}, files={"upload": ("u.bin", b"\x00" * 70000)}
    )
    assert response.json() == {"name": "quart", "upload_size": 70000}


def test_streamed_body(client: httpx.Client) -> None:
    response = client.get("/stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text == "streamed by quart"


def test_websocket(client: httpx.Client) -> None:
    from websockets.sync.client import connect

    with connect(str(client.base_url).replace("http", "ws", 1) + "/ws", open_timeout=10) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "quart echo: ping"
