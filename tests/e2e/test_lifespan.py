"""The ASGI lifespan protocol (asgiref specs/lifespan.rst) against a real server."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from apps.lifespan_apps import (
    FAILED_MESSAGE,
    MARKER_DIR,
    RAISED_MESSAGE,
    STARLETTE_MESSAGE,
    STARTUP_DELAY,
    ScopeRecorder,
    lifespan_rejecting_app,
    read_events,
    state_app,
)
from hurtle.config import LoopName
from support import InProcessServer, ServerProcess

STARTUP_FAILED = 3


def unix_request(path: Path, request: bytes, timeout: float = 15.0) -> bytes:
    """Connect as soon as the socket file exists, send `request`, read until EOF."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            break
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    with sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_startup_before_first_request_and_shutdown_on_sigterm(
    hurtle_process: Callable[..., ServerProcess], tmp_path: Path, loop_name: LoopName
) -> None:
    # The socket is bound before startup, so a client can connect while the
    # app is still starting up: its request must wait for startup to complete.
    sock_path = tmp_path / "s"
    server = hurtle_process(
        "apps.lifespan_apps:markers",
        "--uds",
        str(sock_path),
        "--loop",
        loop_name,
        env={MARKER_DIR: str(tmp_path), STARTUP_DELAY: "0.5"},
        wait=False,
    )
    response = unix_request(sock_path, b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b"\r\n\r\nstarted: yes")
    server.wait_ready()
    assert read_events(tmp_path) == ["startup-begin", "startup-end", "request"]
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    assert read_events(tmp_path) == ["startup-begin", "startup-end", "request", "shutdown"]


def test_state_is_a_shallow_copy_per_request(serve_app: Callable[..., InProcessServer]) -> None:
    server = serve_app(state_app)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        first = client.get("/").json()
        assert first == {
            "keys": ["counter", "name", "shared"],
            "counter": 0,
            "name": "from startup",
            "shared": [],
        }
        mutated = client.get("/mutate").json()
        assert mutated["keys"] == ["added", "counter", "name", "shared"]
        assert mutated["counter"] == 1
        assert mutated["name"] == "changed by a request"
        after = client.get("/").json()
    # What a request sets in its copy does not leak into the next request...
    assert after["keys"] == ["counter", "name", "shared"]
    assert after["counter"] == 0
    assert after["name"] == "from startup"
    # ...but the copy is shallow: the objects in it are the ones startup made.
    assert after["shared"] == ["appended"]


@pytest.mark.parametrize(
    ("app", "mode", "message"),
    [
        ("startup_failed_app", "on", FAILED_MESSAGE),
        ("startup_failed_app", "auto", FAILED_MESSAGE),
        ("startup_raises_app", "on", RAISED_MESSAGE),
        ("startup_raises_app", "auto", RAISED_MESSAGE),
        ("starlette_failing_app", "on", STARLETTE_MESSAGE),
        ("starlette_failing_app", "auto", STARLETTE_MESSAGE),
        ("lifespan_rejecting_app", "on", "unsupported scope type 'lifespan'"),
    ],
)
def test_startup_failure_exits_3(
    hurtle_process: Callable[..., ServerProcess], app: str, mode: str, message: str
) -> None:
    server = hurtle_process(f"apps.lifespan_apps:{app}", "--lifespan", mode, wait=False)
    assert server.wait_exit() == STARTUP_FAILED
    failure_lines = [
        line for line in server.lines if line.startswith("hurtle: error: application startup")
    ]
    assert len(failure_lines) == 1, server.output
    assert message in server.output
    assert "serving on" not in server.output


def test_auto_serves_an_app_that_rejects_lifespan(
    hurtle_process: Callable[..., ServerProcess],
) -> None:
    server = hurtle_process("apps.lifespan_apps:lifespan_rejecting_app", "--lifespan", "auto")
    response = httpx.get(server.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.text == "plain http app"
    assert server.stop() == 0
    # Not supporting lifespan is not an error worth a line at the default level.
    assert "ERROR" not in server.output
    assert "Traceback" not in server.output


def test_auto_serves_an_app_that_rejects_lifespan_in_process(
    serve_app: Callable[..., InProcessServer],
) -> None:
    server = serve_app(lifespan_rejecting_app, lifespan="auto")
    response = httpx.get(server.url + "/", timeout=10)
    assert response.text == "plain http app"


def test_lifespan_off_never_sends_lifespan(hurtle_process: Callable[..., ServerProcess]) -> None:
    server = hurtle_process("apps.lifespan_apps:scope_recorder", "--lifespan", "off")
    assert httpx.get(server.url + "/", timeout=10).json() == ["http"]
    assert httpx.get(server.url + "/", timeout=10).json() == ["http", "http"]
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("off", ["http"]),
        ("auto", ["lifespan", "lifespan.startup", "http", "lifespan.shutdown"]),
        ("on", ["lifespan", "lifespan.startup", "http", "lifespan.shutdown"]),
    ],
)
def test_lifespan_modes_in_process(
    serve_app: Callable[..., InProcessServer], mode: str, expected: list[str]
) -> None:
    recorder = ScopeRecorder()
    server = serve_app(recorder, lifespan=mode)
    assert httpx.get(server.url + "/", timeout=10).status_code == 200
    server.stop()
    assert server.error is None
    assert recorder.seen == expected
