"""hurtle's own cost per request, without sockets: what docs/performance.md quotes.

wrk against a real server measures everything at once: the kernel's TCP
stack, the event loop, the parser, hurtle, the app. This script measures the
part hurtle controls. It drives one `H1Connection` the way the event loop
does, with `data_received(bytes)` and a transport whose `write` keeps nothing,
and runs the raw ASGI app of benchmarks/apps/raw.py, so no socket, no system
call and no client is in the figure. Each request gets its own turn of the
loop, as it would from a socket; the cost of an empty turn is measured
separately and subtracted.

    python benchmarks/per_request.py                     # µs per request, median of rounds
    python benchmarks/per_request.py --profile plaintext # where those µs go (cProfile)

Run it pinned (`taskset -c 0`) and with the Python the comparison is about:
Python 3.12+ starts the app eagerly, 3.11 cannot.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE / "apps")]

import raw  # noqa: E402

from hurtle.config import Config  # noqa: E402
from hurtle.net.connection import H1Connection  # noqa: E402
from hurtle.net.state import ServerState  # noqa: E402

REQUEST = b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
PIPELINE_DEPTH = 16
UPLOAD_SIZE = 64 * 1024
READ_SIZE = 65536  # What one read from the socket hands data_received, at most.


class NullTransport(asyncio.Transport):
    """Takes what hurtle writes and counts it; never pushes back."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.writes = 0
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)
        self.writes += 1

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.written += len(data)
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass


def reads_for(workload: str) -> list[bytes]:
    """What data_received gets for one unit of the workload (a request, or a batch)."""
    if workload == "plaintext":
        return [REQUEST % b"plaintext"]
    if workload == "json":
        return [REQUEST % b"json"]
    if workload == "pipelined":
        return [(REQUEST % b"plaintext") * PIPELINE_DEPTH]
    if workload == "upload":
        head = (
            b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
            b"Content-Length: %d\r\n\r\n" % UPLOAD_SIZE
        )
        data = head + b"x" * UPLOAD_SIZE
        return [data[i : i + READ_SIZE] for i in range(0, len(data), READ_SIZE)]
    if workload == "stream":
        return [REQUEST % b"stream"]
    raise SystemExit(f"unknown workload {workload!r}")


REQUESTS_PER_UNIT = {"pipelined": PIPELINE_DEPTH}
WORKLOADS = ("plaintext", "json", "pipelined", "upload", "stream")


async def drive(workload: str, units: int) -> float:
    """Seconds for `units` units of the workload, each read in its own loop turn."""
    loop = asyncio.get_running_loop()
    state = ServerState(
        Config(app="raw:app", access_log=False, limit_requests_per_connection=None), raw.app, loop
    )
    connection = H1Connection(state)
    transport = NullTransport()
    connection.connection_made(transport)
    reads = reads_for(workload)
    feed = connection.data_received
    pause = asyncio.sleep
    started = time.perf_counter()
    for _ in range(units):
        for data in reads:
            feed(data)
            await pause(0)
        while state.active_requests:
            await pause(0)
    elapsed = time.perf_counter() - started
    connection.connection_lost(None)
    state.stop_ticking()
    assert not transport.closed, "the connection closed: the workload went wrong"
    return elapsed


async def empty_turns(turns: int) -> float:
    pause = asyncio.sleep
    started = time.perf_counter()
    for _ in range(turns):
        await pause(0)
    return time.perf_counter() - started


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def measure(loop_name: str, workload: str, units: int, rounds: int) -> float:
    """Median µs per request over the rounds, the empty loop turns taken out."""
    turns = len(reads_for(workload))
    per_request = REQUESTS_PER_UNIT.get(workload, 1)
    results = []
    for _ in range(rounds):
        loop = new_loop(loop_name)
        try:
            loop.run_until_complete(drive(workload, units // 10))  # Warm-up.
            gc.collect()
            busy = loop.run_until_complete(drive(workload, units))
            idle = loop.run_until_complete(empty_turns(units * turns))
        finally:
            loop.close()
        results.append((busy - idle) / (units * per_request) * 1e6)
    return statistics.median(results)


def profile(loop_name: str, workload: str, units: int, top: int) -> None:
    loop = new_loop(loop_name)
    try:
        loop.run_until_complete(drive(workload, units // 10))
        profiler = cProfile.Profile()
        profiler.enable()
        loop.run_until_complete(drive(workload, units))
        profiler.disable()
    finally:
        loop.close()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--units", type=int, default=20_000, help="requests (or batches) a round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", metavar="WORKLOAD", help="print a cProfile of one workload")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.profile:
        profile(args.loop, args.profile, args.units, args.top)
        return
    version = ".".join(map(str, sys.version_info[:3]))
    print(f"Python {version}, {args.loop}, median of {args.rounds} rounds")
    print("| workload | µs per request |")
    print("| :--- | ---: |")
    for workload in args.workloads.split(","):
        units = args.units if workload not in ("stream", "upload") else args.units // 10
        print(f"| {workload} | {measure(args.loop, workload, units, args.rounds):.2f} |")


run: Callable[[], None] = main

if __name__ == "__main__":
    main()
