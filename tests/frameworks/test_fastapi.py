"""FastAPI through a real hurtle process: JSON, dependencies, a WebSocket, background
tasks, streaming, uploads and lifespan state."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from support import ServerProcess


@pytest.fixture(scope="module")
def client(start_server: Callable[..., ServerProcess]) -> Iterator[httpx.Client]:
    server = start_server("frameworks.fastapi_app:app")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_json_body_and_validation(client: httpx.Client) -> None:
    response = client.post("/items", json={"name": "lamp", "price": 10, "tags": ["a"]})
    assert response.status_code == 200
    assert response.json() == {
        "item": {"name": "lamp", "price": 10.0, "tags": ["a"]},
        "with_tax": 12.0,
    }
    invalid = client.post("/items", json={"name": "lamp"})
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "price"]


def test_dependencies(client: httpx.Client) -> None:
    response = client.get("/items", params={"limit": 5}, headers={"X-Token": "secret"})
    assert response.json() == {"user": "alice", "page": {"limit": 5, "offset": 0}}
    assert client.get("/items").status_code == 401


def test_sync_view_runs_off_the_loop(client: httpx.Client) -> None:
    assert client.get("/sync").json() == {"thread": True}


def test_background_task_runs_after_the_response(client: httpx.Client) -> None:
    assert client.post("/tasks/first").json() == {"queued": "first"}
    # It runs after the response was sent, so the next request may come first.
    deadline = time.monotonic() + 10
    while "first" not in client.get("/tasks").json():
        assert time.monotonic() < deadline, "the background task did not run"
        time.sleep(0.01)


def test_streaming_response(client: httpx.Client) -> None:
    with client.stream("GET", "/stream", params={"count": 20}) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        lines = list(response.iter_lines())
    assert lines == [f"line {i}" for i in range(20)]


def test_file_upload(client: httpx.Client) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB: spooled to disk by Starlette
    response = client.post(
        "/upload",
        files={"file": ("data.bin", data, "application/octet-stream")},
        headers={"Note": "a note"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "filename": "data.bin",
        "content_type": "application/octet-stream",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "note": "a note",
    }


def test_lifespan_state(client: httpx.Client) -> None:
    assert client.get("/state").json() == {
        "greeting": "hello from the FastAPI lifespan",
        "started_in": "lifespan",
    }


def test_websocket(client: httpx.Client) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = str(client.base_url).replace("http", "ws", 1) + "/ws"
    with connect(url, open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps({"n": 1}))
        assert json.loads(ws.recv(timeout=10)) == {
            "echo": {"n": 1},
            "greeting": "hello from the FastAPI lifespan",
        }
        ws.send(json.dumps({"close": True}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "asked to close")
