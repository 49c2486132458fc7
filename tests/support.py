"""Helpers that run a real hurtle: as a subprocess, or in-process through `Server`.

Every server started here is stopped by its fixture, and every wait has a limit.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hurtle import Config, Server
from hurtle.config import LoopName

TESTS_DIR = Path(__file__).parent
REPO = TESTS_DIR.parent
LOOPS = ["asyncio", "uvloop"]
_SERVING = re.compile(r"serving on (\S+)")


class ServerProcess:
    """`python -m hurtle ...` in a subprocess; stderr is collected in `lines`."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        *,
        command: list[str] | None = None,
        pass_fds: tuple[int, ...] = (),
        new_session: bool = False,
        stdin: int | None = None,
    ) -> None:
        """`stdin`: a file descriptor for its standard input (a pty's, say);
        `command` replaces `python -m hurtle` (a launcher that execs it, say);
        `new_session` puts it in a process group of its own, so that a test can
        signal the whole group (a supervisor and its workers)."""
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), full_env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, "-m", "hurtle"]), *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(cwd or TESTS_DIR),
            text=True,
            errors="replace",
            pass_fds=pass_fds,
            start_new_session=new_session,
        )
        self.lines: list[str] = []
        self._url: str | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            match = _SERVING.search(line)
            if match and self._url is None:
                self._url = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 15.0) -> str:
        self._ready.wait(timeout)
        if self._url is None:
            self.stop()
            raise RuntimeError("hurtle did not start:\n" + self.output)
        return self._url

    @property
    def url(self) -> str:
        """The first address the server logged; only after wait_ready()."""
        assert self._url is not None, "the server has not logged its address"
        return self._url

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def wait_exit(self, timeout: float = 15.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self._reader.join(5)
        return code

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self) -> int:
        self.signal(signal.SIGTERM)
        return self.wait_exit()


class InProcessServer:
    """A `hurtle.Server` running in its own thread and event loop."""

    def __init__(self, app: Any, loop: LoopName, **options: Any) -> None:
        options.setdefault("port", 0)
        options.setdefault("log_level", "warning")
        self.server = Server(app, Config(loop=loop, **options))
        self.loop_name = loop
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.addresses and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self.server.addresses:
            raise RuntimeError(f"in-process server did not start: {self.error!r}")
        self.url = self.server.addresses[0]
        self.port = int(self.url.rsplit(":", 1)[1])

    def _run(self) -> None:
        factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        if self.loop_name == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                self._loop = runner.get_loop()
                runner.run(self.server.serve(install_signal_handlers=False))
        except BaseException as exc:
            self.error = exc

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.server.shutdown)
        self._thread.join(timeout)


def debian_tool(command: str, package: str) -> str:
    """The path of `command`, installing Debian's `package` when it is missing.

    CI runs as root on a machine that reaches Debian's archive; a test that
    needs a real client (h2load, nghttp) installs it rather than skip.
    """
    found = shutil.which(command)
    if found is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # Another install (a parallel test run, the machine's own setup) may hold
        # dpkg's lock: wait for it rather than fail at once.
        wait_for_lock = ["-o", "DPkg::Lock::Timeout=300"]
        subprocess.run(
            ["apt-get", *wait_for_lock, "update", "-qq"], check=False, env=env, timeout=600
        )
        subprocess.run(
            ["apt-get", *wait_for_lock, "install", "-y", "-qq", package],
            check=True,
            env=env,
            timeout=900,
        )
        found = shutil.which(command)
    assert found is not None, f"{package} installed no {command}"
    return found


def raw_request(port: int, data: bytes, timeout: float = 2.0, host: str = "127.0.0.1") -> bytes:
    """Send raw bytes, read until the server closes or `timeout` passes quietly."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        return _read_until_closed(sock, TimeoutError)


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def read_until(sock: socket.socket, marker: bytes, timeout: float = 10.0) -> bytes:
    """Read until `marker` has arrived or the peer closes."""
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_to_eof(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Read until the peer closes (a reset counts as closing)."""
    sock.settimeout(timeout)
    return _read_until_closed(sock, ConnectionResetError)


def _read_until_closed(sock: socket.socket, ends_too: type[OSError]) -> bytes:
    """Everything the peer sends until it closes, or until `ends_too` is raised."""
    chunks: list[bytes] = []
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except ends_too:
        pass
    return b"".join(chunks)


class RawResponse:
    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def __repr__(self) -> str:
        return f"RawResponse({self.status}, {self.headers!r}, {self.body[:60]!r})"


def parse_responses(data: bytes, methods: list[str]) -> tuple[list[RawResponse], bytes]:
    """Parse consecutive HTTP/1.1 responses with h11 (a real client-side parser).

    `methods` gives the request method of each response (HEAD changes framing).
    Returns the complete responses and the bytes left after them. Interim
    (1xx) responses are returned too, before the final one.
    """
    import h11

    responses: list[RawResponse] = []
    for method in methods:
        client = h11.Connection(our_role=h11.CLIENT)
        client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        client.receive_data(data)
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                client.receive_data(b"")  # end of input: close-delimited bodies end here
                event = client.next_event()
                if event is h11.NEED_DATA:
                    return responses, data
            if isinstance(event, h11.InformationalResponse):
                responses.append(RawResponse(event.status_code, list(event.headers), b""))
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                responses.append(RawResponse(status, headers, b"".join(chunks)))
                break
            elif isinstance(event, h11.ConnectionClosed):
                return responses, b""
        data = client.trailing_data[0]
    return responses, data
