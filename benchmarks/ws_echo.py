"""WebSocket echo throughput, and the load client that `make bench` uses for its WebSocket row.

Each server serves the same raw ASGI echo app (benchmarks/apps/ws_echo.py),
pinned to CPU 0; the load client runs on CPU 1. The client keeps `--window`
small text messages in flight on each of `--connections` connections: frames
are built once (masked, as RFC 6455 requires of a client), echoes are counted
by size without parsing, so the client spends almost nothing per message.
`--self-test` measures the client against a trivial in-process echo that
does no WebSocket work at all, to show the client is not the bottleneck.

Rounds are interleaved (hurtle, uvicorn, hurtle, uvicorn, ...) and the table
shows medians. Only 127.0.0.1 is used; every run is bounded by --duration.
Servers are started as benchmarks/servers.py says, under the peers' venv.

    python3 benchmarks/ws_echo.py --rounds 5 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from environment import (
    REPO,
    build_compiled,
    check_cpus,
    check_hurtle_src,
    reexec_in_peers_venv,
)
from servers import HOST, RunningServer, ServerSetup, free_port, probe

PAYLOAD = b"hurtle-benchmark-payload-32bytes"  # 32 bytes of text
MASK = b"\x01\x02\x03\x04"
SERVER_CPU, CLIENT_CPU = 0, 1


def client_frame() -> bytes:
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(PAYLOAD))
    return bytes([0x81, 0x80 | len(PAYLOAD)]) + MASK + masked


SERVER_FRAME_SIZE = 2 + len(PAYLOAD)  # Unmasked, no extension: header + payload.


class EchoLoad(asyncio.Protocol):
    """One client connection: handshake, then `window` messages in flight."""

    def __init__(self, window: int, counter: list[int], ready: asyncio.Future[None]) -> None:
        self.window = window
        self.counter = counter
        self.ready = ready
        self.frame = client_frame()
        self.batch = self.frame * window
        self.buffer = b""
        self.open = False
        self.pending = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's too
        key = base64.b64encode(os.urandom(16))
        transport.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )

    def data_received(self, data: bytes) -> None:
        if not self.open:
            self.buffer += data
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(head.decode("latin-1")))
                return
            self.open = True
            self.buffer = b""
            if not self.ready.done():
                self.ready.set_result(None)
            assert self.transport is not None
            self.transport.write(self.batch)
            data = rest
        self.pending += len(data)
        echoed, self.pending = divmod(self.pending, SERVER_FRAME_SIZE)
        if echoed:
            self.counter[0] += echoed
            assert self.transport is not None
            self.transport.write(self.batch if echoed == self.window else self.frame * echoed)


@dataclass(frozen=True)
class EchoResult:
    messages_per_second: float
    client_cpu: float  # busy share of one CPU the client used in the measured window
    server_cpu: float | None  # the same for the server, when its clock was given


async def measure(
    port: int,
    connections: int,
    window: int,
    duration: float,
    warmup: float,
    server_clock: Callable[[], float] | None,
) -> EchoResult:
    loop = asyncio.get_running_loop()
    counter = [0]
    transports = []
    readies = []
    for _ in range(connections):
        ready: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.create_connection(
            functools.partial(EchoLoad, window, counter, ready), HOST, port
        )
        transports.append(transport)
        readies.append(ready)
    try:
        await asyncio.wait_for(asyncio.gather(*readies), 10)
        await asyncio.sleep(warmup)
        server_start = server_clock() if server_clock else 0.0
        start_count, start, cpu_start = counter[0], time.perf_counter(), time.process_time()
        await asyncio.sleep(duration)
        count, elapsed = counter[0] - start_count, time.perf_counter() - start
        client_busy = time.process_time() - cpu_start
        server_busy = server_clock() - server_start if server_clock else None
    finally:
        for transport in transports:
            transport.abort()
    return EchoResult(
        messages_per_second=count / elapsed,
        client_cpu=client_busy / elapsed,
        server_cpu=server_busy / elapsed if server_busy is not None else None,
    )


def run_client(
    port: int,
    connections: int,
    window: int,
    duration: float,
    warmup: float = 0.5,
    server_clock: Callable[[], float] | None = None,
) -> EchoResult:
    """Load the echo server on `port` from the calling process (pin it first)."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(measure(port, connections, window, duration, warmup, server_clock))


class _TrivialEcho(asyncio.Protocol):
    """Answers a handshake, then echoes bytes verbatim after unmasking: no framing work."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.open = False
        self.reply = bytes([0x81, len(PAYLOAD)]) + PAYLOAD
        self.frame_size = len(client_frame())
        self.pending = 0

    def data_received(self, data: bytes) -> None:
        if not self.open:
            if b"\r\n\r\n" in data:
                self.open = True
                if b"Upgrade: websocket" in data:
                    self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
                else:  # The harness's readiness probe.
                    self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            return
        self.pending += len(data)
        frames, self.pending = divmod(self.pending, self.frame_size)
        self.transport.write(self.reply * frames)


def _serve_trivial_echo(port: int, cpu: int, lifetime: float) -> None:  # pragma: no cover
    os.sched_setaffinity(0, {cpu})
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(_TrivialEcho, HOST, port))
    loop.call_later(lifetime, loop.stop)
    loop.run_forever()
    server.close()


def self_test(
    connections: int, window: int, duration: float, server_cpu: int, client_cpu: int
) -> float:
    """The client against a trivial echo on the other CPU: the client's own ceiling."""
    port = free_port()
    child = os.fork()
    if child == 0:  # pragma: no cover - the echo process
        try:
            _serve_trivial_echo(port, server_cpu, duration + 30)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 15
        while not probe(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.sched_setaffinity(0, {client_cpu})
        return run_client(port, connections, window, duration).messages_per_second
    finally:
        os.kill(child, 15)
        os.waitpid(child, 0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--servers", default="hurtle,uvicorn,uvicorn-sansio")
    parser.add_argument(
        "--hurtle-src", type=Path, default=REPO / "src", help="where hurtle is imported from"
    )
    parser.add_argument("--self-test", action="store_true", help="also measure the client alone")
    args = parser.parse_args()
    hurtle_src = args.hurtle_src.resolve()
    reexec_in_peers_venv(hurtle_src)
    check_cpus(SERVER_CPU, CLIENT_CPU)
    check_hurtle_src(hurtle_src)
    build_compiled(hurtle_src)
    os.sched_setaffinity(0, {CLIENT_CPU})
    setup = ServerSetup(hurtle_src, SERVER_CPU)
    names = args.servers.split(",")
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(1, args.rounds + 1):
        for name in names:
            with RunningServer(setup, name, "ws_echo:app") as server:
                echo = run_client(server.port, args.connections, args.window, args.duration)
            results[name].append(echo.messages_per_second)
            print(
                f"round {round_number}: {name:8s} {echo.messages_per_second:10.0f} messages/s",
                file=sys.stderr,
            )
    client_ceiling = (
        self_test(args.connections, args.window, args.duration, SERVER_CPU, CLIENT_CPU)
        if args.self_test
        else None
    )
    base = statistics.median(results["uvicorn"]) if "uvicorn" in names else None
    print(
        f"\n{args.connections} connections x {args.window} messages in flight, "
        f"{len(PAYLOAD)}-byte text messages, {args.rounds} rounds of {args.duration:g} s\n"
    )
    print("| server | echoed messages/s (median) | min | max | vs uvicorn |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        median = statistics.median(results[name])
        ratio = f"{median / base:.2f}x" if base else "-"
        print(
            f"| {name} | {median:,.0f} | {min(results[name]):,.0f} | {max(results[name]):,.0f} | {ratio} |"
        )
    if client_ceiling is not None:
        print(f"| (load client alone, trivial echo) | {client_ceiling:,.0f} | | | |")


if __name__ == "__main__":
    main()
