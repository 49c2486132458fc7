"""Signals to the supervisor: SIGHUP under load, SIGTTIN/SIGTTOU, and --max-requests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hurtle.config import LoopName
from supervision import LoadGenerator, Supervised, is_running, wait_until, write_versioned_app
from support import debian_tool

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

APP = "apps.worker_apps:app"
NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}  # A rewrite within one second must not hit a stale .pyc.


def test_sighup_restarts_every_worker_on_new_code_without_a_failed_request(
    supervised: Callable[..., Supervised], tmp_path: Path, loop_name: LoopName
) -> None:
    write_versioned_app(tmp_path, "v1")
    server = supervised(
        "versioned:app", "--workers", "2", "--loop", loop_name, cwd=tmp_path, env=NO_PYC
    )
    old = server.wait_workers(2)
    load = LoadGenerator(f"http://127.0.0.1:{server.port}/")
    load.start()
    try:
        # About a second of load before the restart and a second after the
        # last old worker has gone; the restart itself takes about as long.
        time.sleep(1.0)
        assert load.ok > 0, load.failures
        write_versioned_app(tmp_path, "v2")  # The deploy.
        server.signal(signal.SIGHUP)
        server.wait_log("rolling restart done", timeout=30)
        wait_until(lambda: not any(is_running(pid) for pid in old), 30, "old workers exit")
        time.sleep(1.0)
    finally:
        load.stop()
    print(
        f"\nSIGHUP under load: {load.ok + len(load.failures)} requests, "
        f"{len(load.failures)} failed, by version {load.bodies}"
    )
    assert load.failures == []
    assert load.bodies.get("v1", 0) > 0 and load.bodies.get("v2", 0) > 0
    # Every client ended on the new code, served by new worker processes.
    assert all(body.startswith("v2 ") for body in load.last_body.values())
    new = server.wait_workers(2)
    assert new.isdisjoint(old)


def test_sighup_under_http2_load_loses_no_request(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    """h2load (nghttp2) keeps 4 connections x 10 streams busy through a rolling restart:
    each retiring worker's GOAWAYs (RFC 9113 section 6.8) move the client to a new
    connection, and no request fails, errs or is refused on the way."""
    h2load = debian_tool("h2load", "nghttp2-client")
    write_versioned_app(tmp_path, "v1")
    server = supervised("versioned:app", "--workers", "2", cwd=tmp_path, env=NO_PYC)
    old = server.wait_workers(2)
    load = subprocess.Popen(
        [h2load, "-D", "5", "-c", "4", "-m", "10", f"http://127.0.0.1:{server.port}/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(1.0)
        write_versioned_app(tmp_path, "v2")
        server.signal(signal.SIGHUP)
        server.wait_log("rolling restart done", timeout=30)
        output, _ = load.communicate(timeout=60)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    summary = re.search(
        r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        output,
    )
    assert summary is not None, output
    total, done, succeeded, failed, errored, timeouts = map(int, summary.groups())
    print(f"\nSIGHUP under h2load: {succeeded} succeeded, {failed} failed, {errored} errored")
    assert succeeded > 0 and succeeded == done == total, output
    assert failed == errored == timeouts == 0, output
    assert re.search(r"status codes: \d+ 2xx, 0 3xx, 0 4xx, 0 5xx", output), output
    assert httpx.get(server.url).text.startswith("v2 ")
    assert server.wait_workers(2).isdisjoint(old)


def test_sighup_with_code_that_cannot_start_keeps_the_old_workers(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    write_versioned_app(tmp_path, "v1")
    server = supervised("versioned:app", "--workers", "2", cwd=tmp_path, env=NO_PYC)
    old = server.wait_workers(2)
    (tmp_path / "versioned.py").write_text("def broken(:\n", encoding="utf-8")
    server.signal(signal.SIGHUP)
    server.wait_log("rolling restart abandoned")
    assert "SyntaxError" in server.output
    assert server.wait_workers(2) == old
    assert httpx.get(server.url).text.startswith("v1 ")


def test_ttin_and_ttou_change_the_number_of_workers(
    supervised: Callable[..., Supervised],
) -> None:
    server = supervised(APP, "--workers", "2")
    two = server.wait_workers(2)
    server.signal(signal.SIGTTIN)
    three = server.wait_workers(3)
    assert two < three
    server.signal(signal.SIGTTOU)
    server.wait_workers(2)
    server.signal(signal.SIGTTOU)
    server.wait_workers(1)
    server.signal(signal.SIGTTOU)
    server.wait_log("already down to one worker")
    server.wait_workers(1)
    assert httpx.get(server.url).status_code == 200


def test_max_requests_recycles_a_worker_without_a_failed_request(
    supervised: Callable[..., Supervised],
) -> None:
    # One worker: --max-requests starts the supervisor even so. uvicorn's
    # spelling of the flag is accepted too.
    server = supervised(
        APP,
        "--limit-max-requests",
        "20",
        "--max-requests-jitter",
        "5",
        "--timeout-worker-healthcheck",
        "1",
    )
    (first,) = server.wait_workers(1)
    seen: set[int] = set()
    failures = 0
    deadline = time.monotonic() + 15
    with httpx.Client(timeout=10) as client:
        while len(seen) < 2 and time.monotonic() < deadline:
            try:
                response = client.get(server.url)
            except httpx.HTTPError:
                failures += 1
                continue
            assert response.status_code == 200
            seen.add(int(response.text))
    assert failures == 0
    assert len(seen) == 2, server.output
    server.wait_log(f"worker pid {first} reached --max-requests")
    (second,) = server.wait_workers(1)
    assert second != first
