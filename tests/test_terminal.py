"""What a person at a terminal reads: --help, notices at start and stop, which worker wrote a line.

Every test runs hurtle in a real subprocess (a pty for its stdin where a
terminal matters).
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from support import ServerProcess

TESTS = Path(__file__).parent
StartServer = Callable[..., ServerProcess]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hurtle", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=TESTS,
        env={**os.environ, "COLUMNS": "100"},
    )


def wait_for(server: ServerProcess, pattern: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(server.lines):
            if re.search(pattern, line):
                return line
        time.sleep(0.02)
    raise AssertionError(f"no line matching {pattern!r}:\n{server.output}")


def test_help_is_short_at_the_top_and_readable() -> None:
    result = run("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "usage: hurtle [options] [APP]"
    assert "--limit-requests-per-connection N\n" in result.stdout
    assert "--ws-max-queue N " in result.stdout
    assert "--port PORT " in result.stdout
    assert "default: ]" not in result.stdout.replace("\n", " ").replace("  ", "")
    assert "HURTLE_ROOT_PATH; default: ''" in " ".join(result.stdout.split())
    # Options come in groups by topic.
    for title in ("sockets:", "TLS:", "HTTP/2:", "WebSocket:", "logging:", "processes:"):
        assert title in lines, title


def test_abbreviated_flags_are_refused() -> None:
    result = run("apps.basic:app", "--work", "2", "--port", "0")
    assert result.returncode == 2
    assert "unrecognized arguments: --work" in result.stderr


@pytest.fixture
def pty_stdin() -> Iterator[int]:
    """The follower end of a pseudo-terminal, for a server's stdin."""
    leader, follower = pty.openpty()
    try:
        yield follower
    finally:
        os.close(follower)
        os.close(leader)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_says_how_to_stop_on_a_terminal(pty_stdin: int, workers: str) -> None:
    server = ServerProcess(["apps.basic:app", "--port", "0", "--workers", workers], stdin=pty_stdin)
    try:
        server.wait_ready()
        wait_for(server, r"press CTRL\+C to stop$")
    finally:
        assert server.stop() == 0


def test_no_stop_hint_without_a_terminal(hurtle_process: StartServer) -> None:
    server = hurtle_process("apps.basic:app")
    server.stop()
    assert "CTRL+C" not in server.output


def test_graceful_wait_says_a_second_ctrl_c_stops_at_once(hurtle_process: StartServer) -> None:
    server = hurtle_process("apps.basic:app")
    errors: list[BaseException] = []

    def slow_request() -> None:
        try:
            httpx.get(server.url + "/slow?30", timeout=40)
        except httpx.HTTPError as exc:
            errors.append(exc)

    client = threading.Thread(target=slow_request, daemon=True)
    client.start()
    time.sleep(1.0)  # the request reaches the app (nothing logs it before it ends)
    server.signal(signal.SIGINT)
    line = wait_for(server, r"waiting up to")
    assert "1 request(s)" in line and "press CTRL+C again to stop now" in line, line
    started = time.monotonic()
    server.signal(signal.SIGINT)
    assert server.wait_exit(10) == 0
    assert time.monotonic() - started < 5  # not the 30 s graceful timeout
    client.join(10)
    assert errors  # the slow request was cut off


def test_workers_say_which_process_wrote_each_line() -> None:
    server = ServerProcess(["apps.basic:app", "--workers", "2", "--port", "0"], new_session=True)
    try:
        server.wait_ready()
        _check_worker_lines(server)
    finally:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.wait_exit(5)


def _check_worker_lines(server: ServerProcess) -> None:
    workers = {
        int(m.group(1))
        for m in (re.search(r"worker pid (\d+) ready", line) for line in server.lines)
        if m
    }
    deadline = time.monotonic() + 10
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = {
            int(m.group(1))
            for m in (re.search(r"worker pid (\d+) ready", line) for line in server.lines)
            if m
        }
    assert len(workers) == 2, server.output
    httpx.get(server.url + "/")
    # SIGTERM to the whole group, as a container runtime sends it: each worker
    # hears it twice (from the sender and from the supervisor), says it once.
    os.killpg(server.proc.pid, signal.SIGTERM)
    assert server.wait_exit(15) == 0
    access = [line for line in server.lines if '"GET / HTTP/1.1" 200' in line]
    assert len(access) == 1, server.output
    pid = int(re.search(r" \[(\d+)\] ", access[0]).group(1))  # type: ignore[union-attr]
    assert pid in workers
    supervisor_line = wait_for(server, r"supervisor \(pid")
    assert f"[{server.proc.pid}] " in supervisor_line
    for worker in workers:
        said = [line for line in server.lines if f"worker pid {worker} received SIGTERM" in line]
        assert len(said) == 1, server.output
