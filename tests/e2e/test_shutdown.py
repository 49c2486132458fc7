"""Graceful shutdown of a real hurtle process: SIGTERM, SIGINT, the drain and its limit."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from apps.lifespan_apps import MARKER_DIR, read_events
from hurtle.config import LoopName
from support import ServerProcess

APP = "apps.lifespan_apps:markers"
STARTED = ["startup-begin", "startup-end"]


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def start(
    hurtle_process: Callable[..., ServerProcess],
    markers: Path,
    loop_name: LoopName,
    *args: str,
) -> ServerProcess:
    return hurtle_process(APP, "--loop", loop_name, *args, env={MARKER_DIR: str(markers)})


def slow_request(
    executor: ThreadPoolExecutor, server: ServerProcess, markers: Path, seconds: float
) -> Future[httpx.Response]:
    """Start GET /slow?SECONDS in a thread; return once the app is running it."""
    future = executor.submit(httpx.get, f"{server.url}/slow?{seconds}", timeout=90)
    wait_for_event(markers, "request-start", future)
    return future


def wait_for_event(markers: Path, event: str, future: Future[httpx.Response]) -> None:
    deadline = time.monotonic() + 15
    while event not in read_events(markers):
        if future.done():
            future.result()  # Raises what went wrong.
            raise AssertionError(f"the request ended before {event!r}")
        assert time.monotonic() < deadline, f"no {event!r} event"
        time.sleep(0.01)


def wait_until_refusing(port: int, timeout: float = 10.0) -> None:
    """Connect until the server refuses: it has stopped listening."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except ConnectionRefusedError:
            return
        probe.close()
        assert time.monotonic() < deadline, "the server still accepts new connections"
        time.sleep(0.01)


def read_response(sock: socket.socket, ending: bytes) -> bytes:
    data = b""
    while not data.endswith(ending):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_in_flight_request_completes(
    hurtle_process: Callable[..., ServerProcess],
    executor: ThreadPoolExecutor,
    tmp_path: Path,
    loop_name: LoopName,
    signum: signal.Signals,
) -> None:
    server = start(hurtle_process, tmp_path, loop_name)
    request = slow_request(executor, server, tmp_path, 2)
    server.signal(signum)
    response = request.result(timeout=30)
    assert response.status_code == 200
    assert response.text == "slow done"
    # No more requests on this connection: the server is going away.
    assert response.headers["connection"] == "close"
    assert server.wait_exit(timeout=10) == 0
    # Lifespan shutdown runs after the drain.
    assert read_events(tmp_path) == [*STARTED, "request-start", "request-end", "shutdown"]


def test_idle_keep_alive_connections_are_closed(
    hurtle_process: Callable[..., ServerProcess],
    executor: ThreadPoolExecutor,
    tmp_path: Path,
    loop_name: LoopName,
) -> None:
    server = start(hurtle_process, tmp_path, loop_name, "--timeout-keep-alive", "60")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as idle:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        assert read_response(idle, b"started: yes").startswith(b"HTTP/1.1 200 ")
        request = slow_request(executor, server, tmp_path, 4)
        server.signal(signal.SIGTERM)
        # EOF at once, while the other request still runs: not when the process exits.
        assert idle.recv(65536) == b""
        assert not request.done()
    assert request.result(timeout=30).status_code == 200
    assert server.wait_exit(timeout=10) == 0


def test_new_connections_are_refused_once_shutdown_starts(
    hurtle_process: Callable[..., ServerProcess],
    executor: ThreadPoolExecutor,
    tmp_path: Path,
    loop_name: LoopName,
) -> None:
    server = start(hurtle_process, tmp_path, loop_name)
    request = slow_request(executor, server, tmp_path, 4)
    server.signal(signal.SIGTERM)
    wait_until_refusing(server.port)
    assert not request.done()
    assert server.proc.poll() is None  # Still draining, yet not listening.
    assert request.result(timeout=30).status_code == 200
    assert server.wait_exit(timeout=10) == 0


def test_graceful_shutdown_timeout_cuts_long_requests(
    hurtle_process: Callable[..., ServerProcess],
    executor: ThreadPoolExecutor,
    tmp_path: Path,
    loop_name: LoopName,
) -> None:
    server = start(hurtle_process, tmp_path, loop_name, "--timeout-graceful-shutdown", "1")
    request = slow_request(executor, server, tmp_path, 60)
    server.signal(signal.SIGTERM)
    assert server.wait_exit(timeout=10) == 0
    with pytest.raises(httpx.TransportError):
        request.result(timeout=10)
    assert read_events(tmp_path) == [*STARTED, "request-start", "request-cancelled", "shutdown"]
    assert "still running after the graceful shutdown" in server.output


def test_second_sigint_forces_exit(
    hurtle_process: Callable[..., ServerProcess],
    executor: ThreadPoolExecutor,
    tmp_path: Path,
    loop_name: LoopName,
) -> None:
    server = start(hurtle_process, tmp_path, loop_name, "--timeout-graceful-shutdown", "60")
    request = slow_request(executor, server, tmp_path, 60)
    server.signal(signal.SIGINT)
    wait_until_refusing(server.port)  # The first SIGINT was handled: draining.
    assert server.proc.poll() is None
    server.signal(signal.SIGINT)
    assert server.wait_exit(timeout=10) == 0
    with pytest.raises(httpx.TransportError):
        request.result(timeout=10)
    assert read_events(tmp_path) == [*STARTED, "request-start", "request-cancelled", "shutdown"]


def test_sigterm_when_idle_exits_at_once(
    hurtle_process: Callable[..., ServerProcess], tmp_path: Path, loop_name: LoopName
) -> None:
    server = start(hurtle_process, tmp_path, loop_name, "--timeout-graceful-shutdown", "60")
    server.signal(signal.SIGTERM)
    # Nothing to drain: no waiting for the graceful shutdown limit.
    assert server.wait_exit(timeout=10) == 0
    assert read_events(tmp_path) == [*STARTED, "shutdown"]
