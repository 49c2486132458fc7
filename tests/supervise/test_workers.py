"""Worker processes under a supervisor: sharing sockets, crashes, hangs, shutdown."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from apps.worker_apps import MARKERS
from hurtle.config import LoopName
from supervision import Supervised, children, is_running, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

APP = "apps.worker_apps:app"


def pids_serving(port: int, attempts: int = 200, want: int = 2) -> set[int]:
    """Worker pids seen over new connections, until `want` differ or attempts run out."""
    seen: set[int] = set()
    for _ in range(attempts):
        response = httpx.get(f"http://127.0.0.1:{port}/", headers={"connection": "close"})
        assert response.status_code == 200
        seen.add(int(response.text))
        if len(seen) >= want:
            break
    return seen


def test_workers_share_the_listening_socket(supervised: Callable[..., Supervised]) -> None:
    server = supervised(APP, "--workers", "2")
    workers = server.wait_workers(2)
    assert "starting 2 worker(s)" in server.output
    # Each worker runs its own lifespan and serves from the one socket.
    assert pids_serving(server.port) == workers


def test_reuse_port_gives_each_worker_its_own_socket(
    supervised: Callable[..., Supervised],
) -> None:
    server = supervised(APP, "--workers", "2", "--reuse-port")
    workers = server.wait_workers(2)
    assert pids_serving(server.port) == workers


def test_a_killed_worker_is_replaced(supervised: Callable[..., Supervised]) -> None:
    server = supervised(APP, "--workers", "2")
    before = server.wait_workers(2)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    took = wait_until(
        lambda: len(server.ready_workers() - before) == 1 and victim not in children(server.pid),
        10,
        "a ready replacement",
    )
    print(f"\nkill -9 of a worker: a new worker was serving {took:.3f} s later")
    assert f"worker pid {victim} died (killed by SIGKILL): replacing it" in server.output
    after = server.wait_workers(2)
    assert victim not in after
    assert pids_serving(server.port) == after


def test_a_worker_with_a_blocked_event_loop_is_dumped_and_replaced(
    supervised: Callable[..., Supervised], loop_name: LoopName
) -> None:
    server = supervised(
        APP, "--workers", "2", "--loop", loop_name, "--timeout-worker-healthcheck", "1.5"
    )
    before = server.wait_workers(2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as stuck:
        # time.sleep(60) inside an async view: that worker's loop stops.
        stuck.sendall(b"GET /block?60 HTTP/1.1\r\nHost: test\r\n\r\n")
        server.wait_log("has not answered the heartbeat", timeout=15)
        server.wait_log("(no answer to the heartbeat)", timeout=10)
        # The killed worker's connection is gone without a response.
        try:
            assert stuck.recv(1024) == b""
        except ConnectionResetError:
            pass
    output = server.output
    # faulthandler's dump names the view that blocks, with its file.
    assert "in blocking_view" in output
    assert "worker_apps.py" in output
    after = server.wait_workers(2)
    assert len(before - after) == 1
    assert pids_serving(server.port) == after


def test_every_worker_failing_at_startup_stops_the_server(
    supervised: Callable[..., Supervised],
) -> None:
    server = supervised("apps.worker_apps:missing", "--workers", "2", wait=False)
    assert server.process.wait_exit(timeout=20) == 1
    output = server.output
    assert "has no attribute 'missing'" in output
    assert "every worker failed at start-up (exit code 1)" in output
    assert children(server.pid) == set()


def test_workers_leave_when_the_supervisor_is_killed(
    supervised: Callable[..., Supervised],
) -> None:
    server = supervised(APP, "--workers", "2")
    workers = server.wait_workers(2)
    os.kill(server.pid, signal.SIGKILL)
    # They see the end of their pipe from the supervisor and drain and exit.
    wait_until(lambda: not any(is_running(pid) for pid in workers), 10, "workers exit")
    assert "the supervisor has gone" in server.output


def test_graceful_shutdown_finishes_an_in_flight_request(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    server = supervised(APP, "--workers", "2", env={MARKERS: str(markers)})
    workers = server.wait_workers(2)
    result: list[httpx.Response] = []
    client = threading.Thread(
        target=lambda: result.append(httpx.get(f"{server.url}/slow?2", timeout=30))
    )
    client.start()
    wait_until(lambda: markers.is_file(), 10, "the slow request started")
    server.signal(signal.SIGTERM)
    started = time.monotonic()
    client.join(30)
    assert result and result[0].status_code == 200
    assert result[0].text == "slow done"
    assert result[0].headers["connection"] == "close"
    assert server.process.wait_exit(timeout=20) == 0
    assert time.monotonic() - started < 20
    assert not any(is_running(pid) for pid in workers)
    assert "stopping the workers gracefully" in server.output


def test_a_worker_that_keeps_failing_at_startup_is_retried_with_backoff(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    marker = tmp_path / "broken"
    server = supervised(
        "apps.fragile_apps:app", "--workers", "2", env={"FRAGILE_MARKER": str(marker)}
    )
    survivor, victim = sorted(server.wait_workers(2))
    marker.touch()  # From now on the app cannot be imported.
    os.kill(victim, signal.SIGKILL)
    server.wait_log("starting a new worker in 0.5 s")
    server.wait_log("starting a new worker in 1.0 s")
    assert "cannot start now" in server.output
    # The other worker serves all along.
    assert pids_serving(server.port, attempts=5, want=2) == {survivor}
    marker.unlink()
    after = server.wait_workers(2)
    assert survivor in after and victim not in after


def test_the_supervisor_never_imports_the_app(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    # Each worker is a fresh interpreter: an app that starts threads (and
    # holds locks) at import works, which fork-after-import would endanger.
    markers = tmp_path / "imports"
    server = supervised(
        "apps.fragile_apps:app", "--workers", "2", env={"IMPORT_MARKERS": str(markers)}
    )
    workers = server.wait_workers(2)
    assert pids_serving(server.port) == workers
    importers = {int(line) for line in markers.read_text().split()}
    assert importers == workers
    assert server.pid not in importers
