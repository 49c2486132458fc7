"""`make bench`: hurtle against uvicorn, granian and hypercorn on one CPU each, in one run.

Every server runs as one process pinned to CPU 0, the load generator (wrk, or
the WebSocket client of ws_echo.py) on CPU 1. In each round every workload is
run against every server in turn, each time on a freshly started server
after a warm-up; the order of the servers rotates from round to round. The
table shows medians over the rounds and ratios to uvicorn and granian, next
to hurtle's goals. The HTTP/2 rows are driven by h2load, over cleartext (h2c)
and over TLS with a self-signed certificate made for the run. Then the memory
rows: RSS of an idle server and per idle keep-alive connection, HTTP/1.1 when
the run has HTTP/1.1 rows, HTTP/2 when it has HTTP/2 rows.

The harness first creates or updates benchmarks/.venv-peers-3.X, for the Python
that runs it (the peers, hurtle's dependencies, uvloop, matplotlib), and
re-executes itself under the venv's Python;
hurtle itself is imported from --hurtle-src. Its modules import only the
standard library at the top, so that this works from any python3 >= 3.11. Only 127.0.0.1 is used, every
run is bounded in time, and every process started is stopped by its PID.

    python3 benchmarks/harness.py            # the full run; writes docs/benchmarks.md
    python3 benchmarks/harness.py --quick    # about a minute; prints the tables only
    python3 benchmarks/harness.py --workloads h2c,h2c-1x100,h2-tls,h2-tls-1x100,h2c-stream
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import memory
import report
import ws_echo
from environment import (
    HERE,
    REPO,
    build_compiled,
    check_cpus,
    check_hurtle_src,
    ensure_h2load,
    ensure_wrk,
    gather_facts,
    make_certificate,
    raise_fd_limit,
    reexec_in_peers_venv,
)
from results import Measurement, Run
from servers import SERVER_NAMES, Protocol, RunningServer, ServerSetup, shell_line, shown_path
from workloads import BY_KEY, WORKLOADS, Clients, measure, shown_client_command

DOC = REPO / "docs" / "benchmarks.md"
CHART = REPO / "docs" / "benchmarks.png"
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Plan:
    rounds: int
    duration: int  # seconds: wrk takes whole seconds
    warmup: int
    workloads: tuple[str, ...]
    servers: tuple[str, ...]
    memory_servers: tuple[str, ...]
    memory_connections: int


FULL = Plan(
    rounds=5,
    duration=5,
    warmup=1,
    workloads=(),  # All of them.
    servers=SERVER_NAMES,
    memory_servers=SERVER_NAMES,
    memory_connections=10_000,
)
QUICK = Plan(
    rounds=1,
    duration=2,
    warmup=1,
    workloads=("plaintext", "pipelined", "upload", "websocket", "h2c"),
    servers=SERVER_NAMES,
    memory_servers=("hurtle", "uvicorn"),
    memory_connections=1_000,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the one-minute check")
    parser.add_argument(
        "--h2-only",
        action="store_true",
        help="only the HTTP/2 rows and the HTTP/2 memory row (h2c, h2c-1x100, h2-tls, "
        "h2-tls-1x100, h2c-stream)",
    )
    parser.add_argument(
        "--rounds", type=int, help="interleaved rounds (full: 5, quick: 1; 0: memory rows only)"
    )
    parser.add_argument("--duration", type=int, help="seconds per measurement (full: 5)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up before each (full: 1)")
    parser.add_argument("--workloads", help="comma-separated keys (default: all; quick: four)")
    parser.add_argument("--servers", help=f"comma-separated (default: {','.join(SERVER_NAMES)})")
    parser.add_argument(
        "--memory-connections",
        type=int,
        help="idle connections for the memory row (full: 10000, quick: 1000; 0: no memory rows)",
    )
    parser.add_argument(
        "--hurtle-src",
        type=Path,
        default=REPO / "src",
        help="the directory hurtle is imported from (default: this repository's src)",
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another checkout's src, measured in the same run as the server 'hurtle-baseline' "
        "(before/after a change: same machine, same rounds, interleaved)",
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="also measure hurtle with Prometheus metrics on (--metrics-bind), as the server "
        "'hurtle-metrics' in the same run: the cost of counting, next to 'hurtle'",
    )
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write docs/benchmarks.md and docs/benchmarks.png (default: only for the full run "
        "with default settings)",
    )
    parser.add_argument(
        "--from-results", type=Path, help="report a saved run (benchmarks/results/*.json) again"
    )
    parser.add_argument("--upgrade-peers", action="store_true", help="pip install --upgrade")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    return parser.parse_args()


def make_plan(args: argparse.Namespace) -> Plan:
    base = QUICK if args.quick else FULL
    if args.workloads:
        workloads = tuple(args.workloads.split(","))
    elif args.h2_only:
        workloads = tuple(w.key for w in WORKLOADS if w.kind == "h2load")
    else:
        workloads = base.workloads or tuple(w.key for w in WORKLOADS)
    servers = tuple(args.servers.split(",")) if args.servers else base.servers
    if args.baseline_src is not None and "hurtle-baseline" not in servers:
        servers = (servers[0], "hurtle-baseline", *servers[1:])
    if args.metrics and "hurtle-metrics" not in servers:
        servers = (servers[0], "hurtle-metrics", *servers[1:])
    memory_connections = (
        base.memory_connections if args.memory_connections is None else args.memory_connections
    )
    return Plan(
        rounds=base.rounds if args.rounds is None else args.rounds,
        duration=args.duration or base.duration,
        warmup=base.warmup if args.warmup is None else args.warmup,
        workloads=workloads,
        servers=servers,
        memory_servers=tuple(name for name in base.memory_servers if name in servers),
        memory_connections=memory_connections,
    )


def main() -> None:
    args = parse_args()
    hurtle_src = args.hurtle_src.resolve()
    reexec_in_peers_venv(hurtle_src, upgrade=args.upgrade_peers)
    # From here on this is the peers' venv: uvloop and matplotlib are importable.
    write = standard_full_run(args) if args.write is None else args.write
    run = Run.load(args.from_results) if args.from_results else measure_all(args, hurtle_src)
    print(report.console_report(run))
    if write:
        report.write_chart(run, CHART)
        report.write_document(run, DOC, CHART.name)
        print(f"wrote {shown_path(DOC)} and {shown_path(CHART)}", file=sys.stderr)


def standard_full_run(args: argparse.Namespace) -> bool:
    """Only `make bench` as it is rewrites the docs unasked: not a partial or quick run."""
    partial = (args.rounds, args.duration, args.warmup, args.workloads, args.servers)
    return not (
        args.quick
        or args.h2_only
        or args.from_results
        or any(value is not None for value in partial)
        or args.memory_connections is not None
    )


def measure_all(args: argparse.Namespace, hurtle_src: Path) -> Run:
    plan = make_plan(args)
    unknown = [key for key in plan.workloads if key not in BY_KEY]
    if unknown:
        raise SystemExit(f"benchmarks: unknown workloads {unknown}; known: {list(BY_KEY)}")
    wrk = ensure_wrk()
    h2_rows = [key for key in plan.workloads if BY_KEY[key].kind == "h2load"]
    clients = Clients(wrk, ensure_h2load() if h2_rows else None)
    check_cpus(args.server_cpu, args.client_cpu)
    check_hurtle_src(hurtle_src)
    build_compiled(hurtle_src)
    baseline_src = args.baseline_src.resolve() if args.baseline_src else None
    if baseline_src is not None:
        check_hurtle_src(baseline_src)
        build_compiled(baseline_src)
    fd_limit = raise_fd_limit()
    memory_connections = min(plan.memory_connections, fd_limit - 256)
    if memory_connections < plan.memory_connections:
        print(
            f"benchmarks: the open-files limit is {fd_limit}: the memory rows use "
            f"{memory_connections} connections, not {plan.memory_connections}",
            file=sys.stderr,
        )
    os.sched_setaffinity(0, {args.client_cpu})  # This process is the load client's CPU.
    with tempfile.TemporaryDirectory(prefix="hurtle-bench-tls-") as tls_directory:
        # The TLS rows' self-signed certificate for 127.0.0.1, made once per run.
        tls = make_certificate(Path(tls_directory)) if h2_rows else None
        setup = ServerSetup(hurtle_src, args.server_cpu, baseline_src=baseline_src, tls=tls)
        run = run_plan(args, plan, setup, clients, hurtle_src, fd_limit, memory_connections)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    saved = RESULTS / f"{stamp}-{'quick' if args.quick else 'full'}.json"
    run.save(saved)
    print(f"saved {shown_path(saved)}", file=sys.stderr)
    return run


def memory_protocols(plan: Plan) -> list[Protocol]:
    """The memory rows a run has: HTTP/1.1 with HTTP/1.1 rows, HTTP/2 with HTTP/2 rows."""
    kinds = {BY_KEY[key].kind for key in plan.workloads}
    protocols: list[Protocol] = []
    if kinds - {"h2load"}:
        protocols.append("http1")
    if "h2load" in kinds:
        protocols.append("h2c")
    return protocols


def run_plan(
    args: argparse.Namespace,
    plan: Plan,
    setup: ServerSetup,
    clients: Clients,
    hurtle_src: Path,
    fd_limit: int,
    memory_connections: int,
) -> Run:
    started = time.monotonic()
    h2_rows = [BY_KEY[key] for key in plan.workloads if BY_KEY[key].kind == "h2load"]
    h2_protocols: list[Protocol] = [
        p for p in ("h2c", "h2") if any(w.protocol == p for w in h2_rows)
    ]
    run = Run(
        facts=gather_facts(clients.wrk, hurtle_src, fd_limit, clients.h2load),
        settings={
            "invocation": shell_line(["python3", "benchmarks/harness.py", *sys.argv[1:]]),
            "rounds": plan.rounds,
            "duration": plan.duration,
            "warmup": plan.warmup,
            "server_cpu": args.server_cpu,
            "client_cpu": args.client_cpu,
            "hurtle_src": shown_path(hurtle_src),
            "baseline_src": shown_path(setup.baseline_src) if setup.baseline_src else "",
            "quick": args.quick,
        },
        servers=list(plan.servers),
        workloads=list(plan.workloads),
        server_commands={name: setup.shown(name) for name in plan.servers},
        h2_server_commands={
            f"{name}, {'h2c' if protocol == 'h2c' else 'TLS'}": setup.shown(name, protocol=protocol)
            for name in plan.servers
            for protocol in h2_protocols
        },
        client_commands={
            key: shown_client_command(BY_KEY[key], plan.duration, args.client_cpu)
            for key in plan.workloads
        },
    )
    throughput_rounds(run, plan, setup, clients, args.client_cpu, started)
    if memory_connections > 0:
        for protocol in memory_protocols(plan):
            memory_rows(run, plan.memory_servers, setup, memory_connections, protocol)
    if "websocket" in plan.workloads and plan.rounds:
        echo = BY_KEY["websocket"]
        run.ws_client_ceiling = ws_echo.self_test(
            echo.connections, echo.window, plan.duration, args.server_cpu, args.client_cpu
        )
    run.load_after = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    run.wall_seconds = time.monotonic() - started
    return run


def throughput_rounds(
    run: Run, plan: Plan, setup: ServerSetup, clients: Clients, client_cpu: int, started: float
) -> None:
    """Every workload on every server, round after round, on a fresh server each time."""
    for round_index in range(plan.rounds):
        turn = round_index % len(plan.servers)
        order = plan.servers[turn:] + plan.servers[:turn]
        for key in plan.workloads:
            workload = BY_KEY[key]
            for name in order:
                result: Measurement | None = None
                try:
                    with RunningServer(
                        setup, name, workload.app, protocol=workload.protocol
                    ) as server:
                        result = measure(
                            clients, workload, server, plan.duration, plan.warmup, client_cpu
                        )
                except Exception as error:  # A server that fails a workload: n/a, go on.
                    message = f"{name}, {workload.label}, round {round_index + 1}: {error}"
                    run.failures.append(message.splitlines()[0][:300])
                run.add(key, name, result)
                progress(round_index + 1, plan.rounds, workload.label, name, result, started)


def memory_rows(
    run: Run,
    servers: tuple[str, ...],
    setup: ServerSetup,
    connections: int,
    protocol: Protocol = "http1",
) -> None:
    kind = "memory" if protocol == "http1" else "memory, HTTP/2"
    for name in servers:
        try:
            found = memory.measure_memory(setup, name, connections, protocol)
        except Exception as error:
            run.failures.append(f"{name}, {kind}: {error}".splitlines()[0][:300])
            continue
        (run.memory if protocol == "http1" else run.memory_h2)[name] = found
        per = found.per_connection_kib
        print(
            f"{kind}: {name} idle {found.idle_rss_kib / 1024:.1f} MiB, "
            f"{'n/a' if per is None else f'{per:.1f}'} KiB per connection "
            f"({found.open_connections:,} of {found.wanted_connections:,} open)",
            file=sys.stderr,
        )


def progress(
    round_number: int,
    rounds: int,
    label: str,
    name: str,
    result: Measurement | None,
    started: float,
) -> None:
    elapsed = (time.monotonic() - started) / 60
    if result is not None:
        p99 = f" p99 {result.p99_ms:.2f} ms" if result.p99_ms is not None else ""
        errors = f" errors {result.errors}" if result.errors else ""
        shown = f"{result.rate:12,.0f}/s{p99}{errors}"
    else:
        shown = "failed"
    print(
        f"[{elapsed:5.1f} min] round {round_number}/{rounds} {label:15s} {name:10s} {shown}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
