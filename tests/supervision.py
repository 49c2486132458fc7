"""Helpers for tests of the multi-process server: a supervisor and its workers.

A supervised hurtle is started in a process group of its own, so the fixture
can always kill everything it started, workers included (by group id, never
by name). Worker pids are read from /proc (Linux), never guessed.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from support import ServerProcess


def children(pid: int) -> set[int]:
    """The live child processes of `pid` (zombies not counted)."""
    found: set[int] = set()
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return found
    for child in text.split():
        if is_running(int(child)):
            found.add(int(child))
    return found


def is_running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition` until it holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - start


class Supervised:
    """A supervisor process, seen through its log and /proc."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def output(self) -> str:
        return self.process.output

    def signal(self, signum: int) -> None:
        self.process.signal(signum)

    def ready_workers(self) -> set[int]:
        """Workers that are running and have logged that they are ready."""
        ready = {int(pid) for pid in re.findall(r"worker pid (\d+) ready", self.output)}
        return children(self.pid) & ready

    def wait_workers(self, count: int, timeout: float = 20.0) -> set[int]:
        """Until exactly `count` workers run, all of them ready; returns their pids."""
        wait_until(
            lambda: len(children(self.pid)) == count and len(self.ready_workers()) == count,
            timeout,
            f"{count} ready workers (have {children(self.pid)}):\n{self.output}",
        )
        return self.ready_workers()

    def wait_log(self, text: str, timeout: float = 20.0) -> None:
        wait_until(lambda: text in self.output, timeout, f"{text!r} in the log:\n{self.output}")

    def kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


VERSIONED_APP = """\
import os

VERSION = {version!r}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({{"type": "lifespan.startup.complete"}})
            else:
                await send({{"type": "lifespan.shutdown.complete"}})
                return
    body = f"{{VERSION}} {{os.getpid()}}".encode()
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": body}})
"""


def write_versioned_app(directory: Path, version: str, name: str = "versioned.py") -> None:
    """An app module whose responses are 'VERSION PID'; rewriting it is a deploy."""
    (directory / name).write_text(VERSIONED_APP.format(version=version), encoding="utf-8")


class LoadGenerator:
    """Bounded HTTP load on 127.0.0.1 from threads; counts every request and failure.

    Most threads keep one connection alive (httpx.Client, which does not
    retry a request that fails); one opens a new connection per request. A
    failure is any exception or a status other than 200.
    """

    def __init__(self, url: str, keep_alive_threads: int = 4, new_connection_threads: int = 1):
        import threading

        self.url = url
        self.ok = 0
        self.failures: list[str] = []
        self.bodies: dict[str, int] = {}
        self.last_body: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index, index >= keep_alive_threads))
            for index in range(keep_alive_threads + new_connection_threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, index: int, new_connections: bool) -> None:
        import httpx

        deadline = time.monotonic() + 60  # A hard bound, whatever the test does.
        headers = {"connection": "close"} if new_connections else {}
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    response = client.get(self.url, headers=headers)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                with self._lock:
                    if response.status_code == 200:
                        self.ok += 1
                        version = response.text.split()[0]
                        self.bodies[version] = self.bodies.get(version, 0) + 1
                        self.last_body[index] = response.text
                    else:
                        self.failures.append(f"status {response.status_code}")
