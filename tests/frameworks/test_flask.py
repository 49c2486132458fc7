"""Flask (WSGI, auto-detected) through a real hurtle process, mounted at --root-path."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from support import ServerProcess


@pytest.fixture(scope="module")
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server("frameworks.flask_app:app", "--root-path", "/shop", "--wsgi-threads", "4")


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_served_as_wsgi(server: ServerProcess, client: httpx.Client) -> None:
    assert "serving the Flask object as a WSGI app on up to 4 threads" in server.output
    assert client.get("/").text == "Flask says hello"


def test_request_and_script_root(client: httpx.Client) -> None:
    data = client.get("/info", params={"q": "1"}).json()
    assert data["url_for"] == "/shop/"  # SCRIPT_NAME comes from --root-path
    assert data["script_root"] == "/shop"
    assert data["path"] == "/info"
    assert data["remote_addr"] == "127.0.0.1"
    assert data["args"] == {"q": "1"}
    assert data["thread"].startswith("hurtle-wsgi-")
    assert data["multithread"] is True
    # teardown_request ran for the earlier requests.
    assert client.get("/info").json()["teardowns"] > data["teardowns"]


def test_json(client: httpx.Client) -> None:
    response = client.post("/json", json={"a": 1})
    assert response.json() == {
        "received": {"a": 1},
        "content_length": len(response.request.content),
    }


def test_file_upload(client: httpx.Client) -> None:
    data = bytes(range(256)) * 2048 * 3  # 1.5 MiB through wsgi.input
    response = client.post(
        "/upload", files={"file": ("f.bin", data)}, data={"field": "value"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "filename": "f.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "field": "value",
    }


def test_session_cookie(client: httpx.Client) -> None:
    assert client.get("/session").json() == {"count": 1}
    assert client.get("/session").json() == {"count": 2}
    cookie = client.cookies.get("session")
    assert cookie is not None


def test_streamed_response_with_context(client: httpx.Client) -> None:
    response = client.get("/stream", params={"name": "hurtle"})
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.text == "hello hurtle!"


def test_errors(client: httpx.Client) -> None:
    missing = client.get("/missing")
    assert missing.status_code == 404 and missing.json() == {"error": "not here"}
    assert client.get("/nothing-here").status_code == 404
    assert client.get("/boom").status_code == 500
