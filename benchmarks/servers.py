"""The servers compared, and how one is started, watched and stopped.

Every server runs as one serving process pinned with `taskset` to the server
CPU, with its access log off, warnings only, a backlog of 2048, uvloop, and
WebSocket pings off. Apps come from benchmarks/apps through PYTHONPATH, so
every server imports the very same file. Settings that differ and why:

- uvicorn: `--http httptools` (its fast parser), `--ws auto` (its default
  WebSocket stack); `uvicorn-sansio` is the same with `--ws websockets-sansio`.
- granian: `--workers 1 --runtime-mode st --runtime-threads 1`, its
  single-core settings; it still runs a small supervising main process next
  to its worker, both pinned to the server CPU.
- hypercorn: `--workers 0`, which serves in the launched process itself rather
  than in one spawned worker.

The HTTP/2 rows start the same servers with HTTP/2 on, over cleartext (h2c with
prior knowledge) or over TLS (h2 negotiated by ALPN, with the run's self-signed
certificate for 127.0.0.1):

- hurtle: no flag, HTTP/2 is on by default on the same port as HTTP/1.1.
- uvicorn: `--http zttp --http2` (its HTTP/2 stack, the `zttp` package) in place
  of `--http httptools`.
- granian: `--http 2`, HTTP/2 only (its default, `auto`, sniffs for HTTP/1.1 too).
- hypercorn: nothing; it serves HTTP/2 on a plain bind and offers h2 by ALPN.

Two more hurtle rows, for measuring hurtle's own tools against plain
hurtle (`--servers hurtle,hurtle-no-watchdog,hurtle-strict`):
`hurtle-no-watchdog` is hurtle with `--blocking-warn-after none` (the
watchdog is on by default, so the pair shows what it costs), and
`hurtle-strict` is hurtle with `--asgi-strict`.

Processes are stopped by PID, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from environment import APPS, PEERS_PYTHON, REPO, hurtle_python_path

HOST = "127.0.0.1"
BACKLOG = "2048"
IDLE_SECONDS = 600  # Longer than opening the memory rows' connections takes.
SERVER_NAMES = ("hurtle", "uvicorn", "granian", "hypercorn")
Protocol = Literal["http1", "h2c", "h2"]


@dataclass(frozen=True)
class Launch:
    """What a server's command line depends on."""

    app: str  # 'module:attribute' in benchmarks/apps
    port: int | str  # a number, or '$PORT' when the command is shown to people
    # The memory rows: hold this many idle keep-alive connections for IDLE_SECONDS.
    idle_connections: int = 0
    # "http1": as configured for the HTTP/1.1 rows; "h2c": HTTP/2 on, cleartext;
    # "h2": HTTP/2 on, over TLS with `tls` (certificate file, key file).
    protocol: Protocol = "http1"
    tls: tuple[str, str] | None = None


def uses_tls(launch: Launch) -> tuple[str, str] | None:
    """The certificate and key files when this launch serves TLS."""
    if launch.protocol != "h2":
        return None
    if launch.tls is None:
        raise ValueError("an HTTP/2-over-TLS launch needs the run's certificate and key")
    return launch.tls


def hurtle_command(python: str, launch: Launch) -> list[str]:
    command = [
        python, "-m", "hurtle", launch.app, "--host", HOST, "--port", str(launch.port),
        "--backlog", BACKLOG, "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        "--ws-ping-interval", "0",
        # The peers close no connection after a number of requests; hurtle's
        # default (10,000, then GOAWAY or Connection: close) would end the
        # single connection of the "1 x 100 streams" rows within a second,
        # and h2load's -D runs do not reconnect.
        "--limit-requests-per-connection", "none",
    ]  # fmt: skip
    if launch.idle_connections:
        command += ["--timeout-keep-alive", str(IDLE_SECONDS)]
    if tls := uses_tls(launch):
        command += ["--ssl-certfile", tls[0], "--ssl-keyfile", tls[1]]
    return command


def hurtle_metrics_command(python: str, launch: Launch) -> list[str]:
    """hurtle with Prometheus metrics on (--metrics): what counting costs a request."""
    return [*hurtle_command(python, launch), "--metrics-bind", f"{HOST}:0"]


def uvicorn_command(python: str, launch: Launch, ws: str = "auto") -> list[str]:
    http = ["zttp", "--http2"] if launch.protocol != "http1" else ["httptools"]
    command = [
        python, "-m", "uvicorn", launch.app, "--host", HOST, "--port", str(launch.port),
        "--backlog", BACKLOG, "--loop", "uvloop", "--http", *http, "--ws", ws,
        "--no-access-log", "--log-level", "warning", "--ws-ping-interval", "0",
    ]  # fmt: skip
    if launch.idle_connections:
        command += ["--timeout-keep-alive", str(IDLE_SECONDS)]
    if tls := uses_tls(launch):
        command += ["--ssl-certfile", tls[0], "--ssl-keyfile", tls[1]]
    return command


def uvicorn_sansio_command(python: str, launch: Launch) -> list[str]:
    return uvicorn_command(python, launch, ws="websockets-sansio")


def granian_command(python: str, launch: Launch) -> list[str]:
    command = [
        python, "-m", "granian", "--interface", "asgi", "--host", HOST,
        "--port", str(launch.port), "--workers", "1", "--runtime-mode", "st",
        "--runtime-threads", "1", "--loop", "uvloop", "--backlog", BACKLOG,
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    if launch.idle_connections:
        # hyper closes a connection whose next request head does not arrive in time (60 s
        # at most), and granian serves no more connections at once than --backpressure
        # (by default its backlog): more wait unaccepted.
        command += ["--http1-header-read-timeout", str(min(IDLE_SECONDS, 60) * 1000)]
        command += ["--backpressure", str(launch.idle_connections + 256)]
    if launch.protocol != "http1":
        command += ["--http", "2"]
    if tls := uses_tls(launch):
        command += ["--ssl-certificate", tls[0], "--ssl-keyfile", tls[1]]
    return [*command, launch.app]


def hypercorn_command(python: str, launch: Launch) -> list[str]:
    command = [
        python, "-m", "hypercorn", "--worker-class", "uvloop", "--workers", "0",
        "--bind", f"{HOST}:{launch.port}", "--backlog", BACKLOG, "--log-level", "warning",
    ]  # fmt: skip
    if launch.idle_connections:
        command += ["--keep-alive", str(IDLE_SECONDS)]
    if tls := uses_tls(launch):
        command += ["--certfile", tls[0], "--keyfile", tls[1]]
    return [*command, launch.app]


def hurtle_no_watchdog_command(python: str, launch: Launch) -> list[str]:
    return [*hurtle_command(python, launch), "--blocking-warn-after", "none"]


def hurtle_strict_command(python: str, launch: Launch) -> list[str]:
    return [*hurtle_command(python, launch), "--asgi-strict"]


COMMANDS: dict[str, Callable[[str, Launch], list[str]]] = {
    "hurtle": hurtle_command,
    "hurtle-no-watchdog": hurtle_no_watchdog_command,
    "hurtle-strict": hurtle_strict_command,
    # Another checkout of hurtle (--baseline-src), measured in the same run.
    "hurtle-baseline": hurtle_command,
    # hurtle with --metrics-bind (the harness's --metrics), measured in the same run.
    "hurtle-metrics": hurtle_metrics_command,
    "uvicorn": uvicorn_command,
    "uvicorn-sansio": uvicorn_sansio_command,
    "granian": granian_command,
    "hypercorn": hypercorn_command,
}


def pinned(command: list[str], cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu), *command]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


SHOWN_VARIABLES = ("$PORT", "$CERT", "$KEY")


def shell_line(command: list[str]) -> str:
    """A command as a shell line; '$PORT', '$CERT', '$KEY' stay unquoted, so it runs as shown."""
    return " ".join(
        arg if any(name in arg for name in SHOWN_VARIABLES) else shlex.quote(arg) for arg in command
    )


def shown_path(path: Path | str) -> str:
    """A path as people should read it: relative to the repository when it is inside."""
    path = Path(path)
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


@dataclass(frozen=True)
class ServerSetup:
    """How every server of a run is launched: the interpreter, hurtle's source, the CPU."""

    hurtle_src: Path
    cpu: int
    python: Path = PEERS_PYTHON
    baseline_src: Path | None = None
    tls: tuple[str, str] | None = None  # the run's certificate and key, for the h2 rows

    def command(self, name: str, launch: Launch) -> list[str]:
        return pinned(COMMANDS[name](str(self.python), launch), self.cpu)

    def python_path(self, name: str) -> str:
        if name == "hurtle-baseline" and self.baseline_src is not None:
            return hurtle_python_path(self.baseline_src)
        if name in ("hurtle", "hurtle-no-watchdog", "hurtle-strict", "hurtle-metrics"):
            return hurtle_python_path(self.hurtle_src)
        return str(APPS)

    def env(self, name: str) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": self.python_path(name)}

    def shown(self, name: str, app: str = "raw:app", protocol: Protocol = "http1") -> str:
        """The command line for people: repository-relative paths, '$PORT' for the port,
        '$CERT' and '$KEY' for the run's self-signed certificate and its key."""
        command = self.command(name, Launch(app, "$PORT", protocol=protocol, tls=("$CERT", "$KEY")))
        command[command.index(str(self.python))] = shown_path(self.python)
        paths = ":".join(shown_path(part) for part in self.python_path(name).split(os.pathsep))
        return f"PYTHONPATH={paths} {shell_line(command)}"


def descendants(pid: int) -> list[int]:
    """The process's children, their children, and so on (Linux /proc)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                pending.append(child)
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from its third field on (the command name may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User plus system time of a process, all its threads included."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_time(pid: int) -> int | None:
    """When the process started (in clock ticks since boot): tells a PID's reuse apart."""
    try:
        return int(stat_fields(pid)[19])
    except OSError:
        return None


class ServerFailed(RuntimeError):
    pass


class RunningServer:
    """One server process for the time of a `with` block: started, ready, then stopped."""

    def __init__(
        self,
        setup: ServerSetup,
        name: str,
        app: str,
        idle_connections: int = 0,
        protocol: Protocol = "http1",
    ):
        self.name = name
        self.port = free_port()
        self.protocol: Protocol = protocol
        launch = Launch(app, self.port, idle_connections, protocol, setup.tls)
        self.command = setup.command(name, launch)
        self.env = setup.env(name)
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def pids(self) -> list[int]:
        return [self.pid, *descendants(self.pid)]

    def rss_kib(self) -> int:
        """Resident memory of the server: its process and any it started (granian's worker)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += rss_kib(pid)
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total

    def __enter__(self) -> RunningServer:
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=APPS
        )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until an HTTP response comes back: an open port alone may only be a backlog."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited at start-up:\n{self.output()}")
            if probe(self.port, self.protocol):
                return
            time.sleep(0.05)
        raise ServerFailed(f"{self.name} did not answer within {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is None:
            return
        children = [(pid, start_time(pid)) for pid in descendants(self.process.pid)]
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for child, started in children:  # A worker its parent failed to stop, by PID.
            if started is not None and start_time(child) == started:
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGKILL)
        self.log.close()


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# An empty SETTINGS frame (RFC 9113 section 6.5): length 0, type 0x4, no flags, stream 0.
H2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
H2_SETTINGS_TYPE = 0x4


def probe(port: int, protocol: Protocol = "http1") -> bool:
    """Whether the server answers in `protocol`: an HTTP/1.1 response, or for HTTP/2 the
    server's SETTINGS frame, its first frame after the client preface (RFC 9113 section 3.4)."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as raw:
            sock: socket.socket = raw
            if protocol == "h2":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # The run's own self-signed certificate.
                context.set_alpn_protocols(["h2"])
                wrapped = context.wrap_socket(raw)
                if wrapped.selected_alpn_protocol() != "h2":
                    return False
                sock = wrapped
            if protocol == "http1":
                sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return sock.recv(16).startswith(b"HTTP/1.")
            sock.sendall(H2_PREFACE + H2_EMPTY_SETTINGS)
            head = b""
            while len(head) < 9:
                more = sock.recv(9 - len(head))
                if not more:
                    return False
                head += more
            return head[3] == H2_SETTINGS_TYPE
    except (OSError, ssl.SSLError):
        return False
