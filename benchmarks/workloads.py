"""The workloads, their goals, and how one is measured against a running server.

HTTP/1.1 workloads are driven by wrk, pinned to the load client's CPU; the Lua
scripts in benchmarks/wrk/ do pipelining and POST bodies, and print exact
counts and percentiles (report.lua). HTTP/2 workloads are driven by h2load
(nghttp2), also pinned: cleartext with prior knowledge (h2c), or TLS with h2
as the only protocol it offers by ALPN, so that a server that would fall back
to HTTP/1.1 fails the row instead of being measured in HTTP/1.1. The WebSocket
workload is driven by the client of benchmarks/ws_echo.py. Each measurement
follows a warm-up run of the same workload on the same server process, whose
figures are thrown away.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import time
from dataclasses import dataclass
from typing import Literal

import ws_echo
from environment import HERE
from results import Measurement
from servers import HOST, Protocol, RunningServer, pinned, shell_line, shown_path

WRK_SCRIPTS = HERE / "wrk"
WRK_TIMEOUT = "5s"  # A response slower than this counts as a timeout error.


@dataclass(frozen=True)
class Goal:
    """What hurtle must reach, as a multiple of a peer's requests per second."""

    uvicorn: float | None = None
    granian: float | None = None
    hypercorn: float | None = None

    def ratios(self) -> dict[str, float]:
        return {name: value for name, value in vars(self).items() if value is not None}

    def text(self) -> str:
        return " and ".join(f">= {value:g}x {name}" for name, value in self.ratios().items())


@dataclass(frozen=True)
class Workload:
    key: str
    title: str  # as the goals table says it
    label: str  # short, for the chart
    app: str  # 'module:attribute' in benchmarks/apps
    goal: Goal
    kind: Literal["wrk", "h2load", "websocket"] = "wrk"
    protocol: Protocol = "http1"  # h2load: "h2c" (cleartext) or "h2" (TLS)
    streams: int = 1  # h2load: requests in flight per connection (-m)
    # A goal shown for information, not counted among the goals met (the HTTP/2 rows,
    # for this first round).
    informational: bool = False
    path: str = "/"
    connections: int = 64
    script: str = "report.lua"
    script_args: tuple[str, ...] = ()
    # wrk times a pipelined batch as one sample, and its correction for coordinated
    # omission then leaves no usable percentile: such a workload reports no p99.
    reports_p99: bool = True
    window: int = 0  # WebSocket: messages in flight per connection
    # Requests/s that no server can exceed (connections / the app's own wait), if any.
    ceiling: float | None = None


WS_CONNECTIONS = 16
WS_WINDOW = 32

WORKLOADS = [
    Workload("plaintext", "plaintext GET, raw ASGI app, 64 connections", "plaintext",
             "raw:app", Goal(uvicorn=2.5, granian=1.1), path="/plaintext"),
    Workload("json", "JSON GET, raw ASGI app, 64 connections", "JSON", "raw:app",
             Goal(uvicorn=2.5, granian=1.1), path="/json"),
    Workload("pipelined", "plaintext, 16 requests pipelined per connection, 64 connections",
             "pipelined x16", "raw:app", Goal(uvicorn=3.0), path="/plaintext",
             script="pipeline.lua", script_args=("16",), reports_p99=False),
    Workload("upload", "64 KiB POST body read by the app, 64 connections", "POST 64 KiB",
             "raw:app", Goal(uvicorn=1.5), path="/upload", script="post.lua"),
    Workload("stream", "1 MiB response streamed in 64 KiB chunks, 64 connections",
             "stream 1 MiB", "raw:app", Goal(uvicorn=1.5), path="/stream"),
    Workload("sleep", "1,000 connections on an endpoint that awaits 50 ms", "1,000 x 50 ms",
             "raw:app", Goal(uvicorn=1.5), path="/sleep", connections=1000,
             ceiling=1000 / 0.050),
    Workload("starlette", "Starlette hello-world, 64 connections", "Starlette",
             "starlette_app:app", Goal(uvicorn=1.3)),
    Workload("fastapi", "FastAPI hello-world, 64 connections", "FastAPI", "fastapi_app:app",
             Goal(uvicorn=1.3)),
    Workload("websocket",
             f"WebSocket echo, messages/s ({WS_CONNECTIONS} connections x {WS_WINDOW} in flight)",
             "WebSocket echo", "ws_echo:app", Goal(uvicorn=2.0), kind="websocket",
             connections=WS_CONNECTIONS, window=WS_WINDOW, reports_p99=False),
]  # fmt: skip


def h2_workload(
    key: str,
    what: str,
    label: str,
    path: str,
    protocol: Protocol,
    connections: int,
    streams: int,
    goal: Goal,
    informational: bool = False,
) -> Workload:
    transport = "h2c, prior knowledge" if protocol == "h2c" else "TLS, ALPN h2"
    return Workload(
        key, f"HTTP/2 ({transport}) {what}, {connections} connection{'s' * (connections > 1)} "
        f"x {streams} streams", label, "raw:app", goal, kind="h2load", path=path,
        protocol=protocol, connections=connections, streams=streams, reports_p99=False,
        informational=informational,
    )  # fmt: skip


# The HTTP/2 goals (issue "HTTP/2 at full speed"): ahead of granian's Rust by a
# fifth on every row, and twice uvicorn where uvicorn serves HTTP/2 (zttp).
# TLS 1x100 is not among them: shown with the same ratio, for information.
H2_GOAL = Goal(granian=1.2)
H2_WORKLOADS = [
    h2_workload("h2c", "plaintext GET", "h2c 10x10", "/plaintext", "h2c", 10, 10,
                Goal(uvicorn=2.0, granian=1.2)),
    h2_workload("h2c-1x100", "plaintext GET", "h2c 1x100", "/plaintext", "h2c", 1, 100, H2_GOAL),
    h2_workload("h2-tls", "plaintext GET", "h2 TLS 10x10", "/plaintext", "h2", 10, 10, H2_GOAL),
    h2_workload("h2-tls-1x100", "plaintext GET", "h2 TLS 1x100", "/plaintext", "h2", 1, 100,
                H2_GOAL, informational=True),
    h2_workload("h2c-stream", "1 MiB response in 64 KiB chunks", "h2c 1 MiB", "/stream",
                "h2c", 10, 10, H2_GOAL),
]  # fmt: skip
WORKLOADS += H2_WORKLOADS
BY_KEY = {workload.key: workload for workload in WORKLOADS}
H2_KEYS = tuple(workload.key for workload in H2_WORKLOADS)
QUICK = ("plaintext", "pipelined", "upload", "websocket", "h2c")
# The p99 goal is read from this workload's measurements.
LATENCY_WORKLOAD = "plaintext"


class WorkloadFailed(RuntimeError):
    pass


def wrk_command(
    wrk: str, workload: Workload, port: int | str, duration: int, cpu: int
) -> list[str]:
    command = [
        wrk, "-t1", f"-c{workload.connections}", f"-d{duration}s", "--timeout", WRK_TIMEOUT,
        "-s", str(WRK_SCRIPTS / workload.script), f"http://{HOST}:{port}{workload.path}",
    ]  # fmt: skip
    if workload.script_args:
        command += ["--", *workload.script_args]
    return pinned(command, cpu)


def h2load_command(
    h2load: str, workload: Workload, port: int | str, duration: int, cpu: int
) -> list[str]:
    scheme = "https" if workload.protocol == "h2" else "http"
    command = [
        h2load, "-t1", f"-c{workload.connections}", f"-m{workload.streams}",
        "-D", str(duration), "--npn-list=h2", f"{scheme}://{HOST}:{port}{workload.path}",
    ]  # fmt: skip
    return pinned(command, cpu)


def shown_client_command(workload: Workload, duration: int, cpu: int) -> str:
    """The load client's command line for people."""
    if workload.kind == "h2load":
        return shell_line(h2load_command("h2load", workload, "$PORT", duration, cpu))
    if workload.kind == "websocket":
        # The harness runs this client in its own process; ws_echo.py runs the same standalone.
        return shell_line(
            [
                "python3", "benchmarks/ws_echo.py", "--connections", str(workload.connections),
                "--window", str(workload.window), "--duration", str(duration),
                "--servers", "hurtle,uvicorn,granian,hypercorn", "--self-test",
            ]
        )  # fmt: skip
    command = wrk_command("wrk", workload, "$PORT", duration, cpu)
    script = command.index("-s") + 1
    command[script] = shown_path(command[script])
    return shell_line(command)


def run_wrk(
    wrk: str, workload: Workload, server: RunningServer, duration: int, cpu: int
) -> Measurement:
    command = wrk_command(wrk, workload, server.port, duration, cpu)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, started = server.cpu_seconds(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    elapsed = time.perf_counter() - started
    server_busy = server.cpu_seconds() - server_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_busy = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    for line in done.stdout.splitlines():
        if line.startswith("wrk-result "):
            figures: dict[str, int] = json.loads(line.removeprefix("wrk-result "))
            break
    else:
        said = (done.stderr.strip() or done.stdout.strip() or "nothing").splitlines()
        raise WorkloadFailed(f"wrk exited with {done.returncode} and no result: {said[-1]}")
    if not figures["requests"]:
        raise WorkloadFailed("wrk got no response at all")
    error_kinds = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    p99 = figures["p99_us"] / 1000 if workload.reports_p99 and figures["p99_us"] else None
    return Measurement(
        rate=figures["requests"] / (figures["duration_us"] / 1e6),
        p99_ms=p99,
        errors={kind: figures[kind] for kind in error_kinds if figures[kind]},
        server_cpu=server_busy / elapsed,
        client_cpu=client_busy / elapsed,
    )


@dataclass(frozen=True)
class H2loadResult:
    """What h2load printed: its protocol, its time, and its request counts."""

    protocol: str  # "Application protocol:" h2c or h2
    seconds: float  # "finished in"
    counts: dict[str, int]  # "requests:" total, started, done, succeeded, failed, errored, timeout
    statuses: dict[str, int]  # "status codes:" 2xx, 3xx, 4xx, 5xx

    def problems(self) -> dict[str, int]:
        """Requests that did not get a 2xx response, by kind; zeros left out."""
        found = {kind: self.counts.get(kind, 0) for kind in ("failed", "errored", "timeout")}
        found |= {f"status {kind}": self.statuses.get(kind, 0) for kind in ("3xx", "4xx", "5xx")}
        return {kind: count for kind, count in found.items() if count}


def parse_h2load(output: str) -> H2loadResult:
    """h2load's summary, for example:

    Application protocol: h2c
    finished in 2.00s, 9465.00 req/s, 333.53KB/s
    requests: 18930 total, 19030 started, 18930 done, 18930 succeeded, 0 failed, 0 errored, 0 timeout
    status codes: 18930 2xx, 0 3xx, 0 4xx, 0 5xx
    """
    protocol = re.search(r"^Application protocol: (\S+)", output, re.MULTILINE)
    finished = re.search(r"^finished in ([0-9.]+)(m?s),", output, re.MULTILINE)
    requests = re.search(r"^requests: (.*)$", output, re.MULTILINE)
    statuses = re.search(r"^status codes: (.*)$", output, re.MULTILINE)
    if not (finished and requests and statuses):
        said = output.strip().splitlines() or ["nothing"]
        raise WorkloadFailed(f"h2load printed no summary: {said[-1]}")

    def counts(text: str) -> dict[str, int]:
        return {name: int(number) for number, name in re.findall(r"(\d+) (\w+)", text)}

    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    return H2loadResult(
        protocol.group(1) if protocol else "none",
        seconds,
        counts(requests.group(1)),
        counts(statuses.group(1)),
    )


def run_h2load(
    h2load: str, workload: Workload, server: RunningServer, duration: int, cpu: int
) -> Measurement:
    """One h2load run. Any request that failed, errored, timed out or got no 2xx fails the
    measurement: such a run is reported as failed, with the counts, never as a rate."""
    command = h2load_command(h2load, workload, server.port, duration, cpu)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before, started = server.cpu_seconds(), time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    elapsed = time.perf_counter() - started
    server_busy = server.cpu_seconds() - server_before
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_busy = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    result = parse_h2load(done.stdout + done.stderr)
    if result.protocol != workload.protocol:
        raise WorkloadFailed(f"h2load spoke {result.protocol}, not {workload.protocol}")
    succeeded = result.counts.get("succeeded", 0)
    if problems := result.problems():
        listed = ", ".join(f"{count:,} {kind}" for kind, count in problems.items())
        raise WorkloadFailed(f"h2load: {listed}; {succeeded:,} succeeded")
    if not succeeded or not result.seconds:
        raise WorkloadFailed("h2load got no response at all")
    return Measurement(
        rate=succeeded / result.seconds,
        server_cpu=server_busy / elapsed,
        client_cpu=client_busy / elapsed,
    )


@dataclass(frozen=True)
class Clients:
    """The load generators' paths; h2load only when the run has HTTP/2 rows."""

    wrk: str
    h2load: str | None = None


def measure(
    clients: Clients,
    workload: Workload,
    server: RunningServer,
    duration: int,
    warmup: int,
    cpu: int,
) -> Measurement:
    """Warm up, then measure: the load client runs on `cpu` (the calling process's CPU)."""
    if workload.kind == "h2load":
        assert clients.h2load is not None, "h2load is found before HTTP/2 rows run"
        if warmup > 0:
            try:
                run_h2load(clients.h2load, workload, server, warmup, cpu)
            except WorkloadFailed as error:
                raise WorkloadFailed(f"in the warm-up: {error}") from error
        return run_h2load(clients.h2load, workload, server, duration, cpu)
    if workload.kind == "websocket":
        echo = ws_echo.run_client(
            server.port,
            workload.connections,
            workload.window,
            duration,
            warmup=warmup,
            server_clock=server.cpu_seconds,
        )
        return Measurement(
            rate=echo.messages_per_second,
            server_cpu=echo.server_cpu,
            client_cpu=echo.client_cpu,
        )
    if warmup > 0:
        run_wrk(clients.wrk, workload, server, warmup, cpu)
    return run_wrk(clients.wrk, workload, server, duration, cpu)
