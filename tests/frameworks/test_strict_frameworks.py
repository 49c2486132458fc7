"""--asgi-strict has no false alarms: Starlette and FastAPI, which keep to the
spec, run through it without one violation (routes, forms, gzip, static files
with ranges, streaming, a WebSocket with a subprotocol, lifespan); Django
only with the one it has."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from frameworks.conftest import FRAMEWORKS_DIR
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


def test_django_under_strict_mode(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """Django's one departure, header names as they were set ('Content-Type'),
    is reported once per line of code and served; nothing else is reported."""
    env = {
        "DJANGO_SETTINGS_MODULE": "testsite.settings",
        "TESTSITE_DB": str(tmp_path / "db.sqlite3"),
    }
    project = FRAMEWORKS_DIR / "django_project"
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        env={**os.environ, **env, "PYTHONPATH": str(project)},
        check=True,
        timeout=60,
    )
    server = start_server(
        "testsite.asgi:application", "--app-dir", str(project), "--asgi-strict", env=env
    )
    with httpx.Client(base_url=server.url, timeout=20) as client:
        for _ in range(2):
            for path in ("/info/", "/async/", "/sync/", "/stream/", "/astream/"):
                assert client.get(path).status_code == 200, path
    reports = [line for line in server.lines if "ASGI violation" in line]
    assert reports, server.output  # Django's header names are not lowercased...
    for line in reports:  # ...which is all, each reported once, and served.
        assert "header names must be lowercased" in line, line
        assert line.endswith("reported once for this line)"), line
    assert len(reports) == len({line.split(" At ", 1)[1] for line in reports})
