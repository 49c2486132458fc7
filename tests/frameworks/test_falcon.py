"""Falcon through a real hurtle process: its ASGI app and its WSGI app (auto-detected)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from support import ServerProcess


@pytest.fixture(scope="module", params=["asgi", "wsgi"])
def client(
    request: pytest.FixtureRequest, start_server: Callable[..., ServerProcess]
) -> Iterator[httpx.Client]:
    server = start_server(f"frameworks.falcon_app:{request.param}_app")
    detected = "as a WSGI app" in server.output
    assert detected == (request.param == "wsgi"), server.output
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.headers["x-interface"] = request.param
        yield client


def interface(client: httpx.Client) -> str:
    return client.headers["x-interface"]


def test_media_get(client: httpx.Client) -> None:
    data = client.get("/things", params={"a": "1"}).json()
    assert data["interface"] == interface(client)
    assert data["path"] == "/things" and data["query"] == {"a": "1"}
    if interface(client) == "wsgi":
        assert data["worker_thread"] is True


def test_media_post(client: httpx.Client) -> None:
    response = client.post("/things", json={"x": [1, "two"]})
    assert response.status_code == 201
    assert response.json() == {"received": {"x": [1, "two"]}}


def test_streamed_response(client: httpx.Client) -> None:
    response = client.get("/stream")
    assert response.text == "chunk 0;chunk 1;chunk 2;chunk 3;"


def test_streamed_upload(client: httpx.Client) -> None:
    body = b"z" * (3 * 1024 * 1024 + 17)
    assert client.put("/upload", content=body).json() == {"size": len(body)}


def test_not_found(client: httpx.Client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
