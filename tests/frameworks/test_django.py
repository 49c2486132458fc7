"""Django through a real hurtle process, the same project twice: asgi.py (with Channels
WebSocket consumers) and wsgi.py (auto-detected WSGI), on one SQLite database."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

from frameworks.conftest import FRAMEWORKS_DIR
from support import ServerProcess

PROJECT = FRAMEWORKS_DIR / "django_project"


@pytest.fixture(scope="module")
def django_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh SQLite database, migrated with `python -m django migrate`."""
    env = {
        "DJANGO_SETTINGS_MODULE": "testsite.settings",
        "TESTSITE_DB": str(tmp_path_factory.mktemp("django") / "db.sqlite3"),
    }
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        env={**os.environ, **env, "PYTHONPATH": str(PROJECT)},
        check=True,
        timeout=60,
    )
    return env


@pytest.fixture(scope="module")
def servers(
    start_server: Callable[..., ServerProcess], django_env: dict[str, str]
) -> dict[str, ServerProcess]:
    # As a user runs it from the project directory: --app-dir names that directory.
    app_dir = str(PROJECT)
    return {
        "asgi": start_server("testsite.asgi:application", "--app-dir", app_dir, env=django_env),
        "wsgi": start_server("testsite.wsgi:application", "--app-dir", app_dir, env=django_env),
    }


@pytest.fixture(params=["asgi", "wsgi"])
def client(
    request: pytest.FixtureRequest, servers: dict[str, ServerProcess]
) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=servers[request.param].url, timeout=20) as client:
        client.headers["x-test"] = request.param
        yield client


def interface(client: httpx.Client) -> str:
    return client.headers["x-test"]


def test_interfaces_are_detected(servers: dict[str, ServerProcess]) -> None:
    assert "as a WSGI app" not in servers["asgi"].output
    assert "serving the WSGIHandler object as a WSGI app" in servers["wsgi"].output


def test_request_data(client: httpx.Client) -> None:
    data = client.get("/info/", params={"a": "1"}).json()
    assert data == {
        "path": "/info/",
        "path_info": "/info/",
        "script_name": "",
        "host": f"127.0.0.1:{client.base_url.port}",
        "secure": False,
        "remote_addr": "127.0.0.1",
        "query": {"a": "1"},
        "header": interface(client),
    }
    # CommonMiddleware's APPEND_SLASH redirect.
    redirect = client.get("/info")
    assert redirect.status_code == 301 and redirect.headers["location"] == "/info/"


def test_orm_from_sync_and_async_views(client: httpx.Client) -> None:
    kind = interface(client)
    before = client.get("/sync/").json()["count"]
    created_async = client.post("/async/", data={"text": f"from an async view over {kind}"})
    assert created_async.status_code == 200, created_async.text
    assert created_async.json()["view"] == "async"
    assert created_async.json()["count"] == before + 1
    created_sync = client.post("/sync/", data={"text": f"from a sync view over {kind}"})
    body = created_sync.json()
    assert body["view"] == "sync" and body["count"] == before + 2
    assert body["notes"][-2:] == [
        {"text": f"from an async view over {kind}", "source": "async"},
        {"text": f"from a sync view over {kind}", "source": "sync"},
    ]
    if kind == "wsgi":
        assert body["thread"].startswith("hurtle-wsgi-")
    # Both servers share the database: the async view sees it all.
    assert client.get("/async/").json()["count"] == before + 2


@pytest.mark.parametrize("path", ["/stream/", "/astream/"])
def test_streaming_http_response(client: httpx.Client, path: str) -> None:
    kind = "async" if path == "/astream/" else "sync"
    with client.stream("GET", path) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        lines = list(response.iter_lines())
    assert lines == [f"{kind} line {i}" for i in range(5)]


def test_file_upload(client: httpx.Client) -> None:
    data = os.urandom(3 * 1024 * 1024)  # above FILE_UPLOAD_MAX_MEMORY_SIZE: a temporary file
    response = client.post(
        "/upload/", files={"file": ("big.bin", data)}, data={"title": "a big one"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": "big.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "on_disk": True,
        "title": "a big one",
    }
    small = client.post("/upload/", files={"file": ("s.txt", b"small")}).json()
    assert small["size"] == 5 and small["on_disk"] is False


def test_unknown_host_is_rejected(client: httpx.Client) -> None:
    assert client.get("/info/", headers={"Host": "evil.example"}).status_code == 400


def test_channels_async_consumer_uses_the_orm(servers: dict[str, ServerProcess]) -> None:
    from websockets.sync.client import connect

    url = servers["asgi"].url.replace("http", "ws", 1) + "/ws/notes/"
    with connect(url, open_timeout=10) as ws:
        ws.send("saved over a websocket")
        first = json.loads(ws.recv(timeout=10))
        ws.send("and another")
        second = json.loads(ws.recv(timeout=10))
    assert first["saved"] == "saved over a websocket"
    assert second["count"] == first["count"] + 1
    with httpx.Client(base_url=servers["wsgi"].url, timeout=10) as client:
        notes = client.get("/sync/").json()["notes"]
    assert {"text": "and another", "source": "websocket"} in notes


def test_channels_sync_consumer_and_close_code(servers: dict[str, ServerProcess]) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = servers["asgi"].url.replace("http", "ws", 1) + "/ws/upper/"
    with connect(url, open_timeout=10) as ws:
        ws.send("quiet please")
        assert ws.recv(timeout=10) == "QUIET PLEASE"
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


def test_websocket_to_the_wsgi_project_is_refused(servers: dict[str, ServerProcess]) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = servers["wsgi"].url.replace("http", "ws", 1) + "/ws/upper/"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_unknown_websocket_path_is_refused_by_channels(servers: dict[str, ServerProcess]) -> None:
    # Plain HTTP to a path only the websocket router knows: Django answers 404.
    with httpx.Client(base_url=servers["asgi"].url, timeout=10) as client:
        assert client.get("/ws/notes/").status_code == 404
