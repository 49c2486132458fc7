"""The workloads, their goals, and how one is measured against a running server.

HTTP workloads are driven by wrk, pinned to the load client's CPU; the Lua
scripts in benchmarks/wrk/ do pipelining and POST bodies, and print exact
counts and percentiles (report.lua). The WebSocket workload is driven by the
client of benchmarks/ws_echo.py. Each measurement follows a warm-up run of the
same workload on the same server process, whose figures are thrown away.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
from dataclasses import dataclass
from typing import Literal

import ws_echo
from environment import HERE
from results import Measurement
from servers import HOST, RunningServer, pinned, shell_line, shown_path

WRK_SCRIPTS = HERE / "wrk"
WRK_TIMEOUT = "5s"  # A response slower than this counts as a timeout error.


@dataclass(frozen=True)
class Goal:
    """What hurtle must reach, as a multiple of a peer's requests per second."""

    uvicorn: float | None = None
    granian: float | None = None

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
    kind: Literal["wrk", "websocket"] = "wrk"
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
BY_KEY = {workload.key: workload for workload in WORKLOADS}
QUICK = ("plaintext", "pipelined", "upload", "websocket")
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


def shown_client_command(workload: Workload, duration: int, cpu: int) -> str:
    """The load client's command line for people."""
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


def measure(
    wrk: str, workload: Workload, server: RunningServer, duration: int, warmup: int, cpu: int
) -> Measurement:
    """Warm up, then measure: the load client runs on `cpu` (the calling process's CPU)."""
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
        run_wrk(wrk, workload, server, warmup, cpu)
    return run_wrk(wrk, workload, server, duration, cpu)
