"""WebSocket echo throughput: hurtle against uvicorn, measured in the same run.

Each server serves the same raw ASGI echo app (benchmarks/apps/ws_echo.py),
pinned to CPU 0; the load client runs on CPU 1. The client keeps `--window`
small text messages in flight on each of `--connections` connections: frames
are built once (masked, as RFC 6455 requires of a client), echoes are counted
by size without parsing, so the client spends almost nothing per message.
`--self-test` measures the client against a trivial in-process echo that
does no WebSocket work at all, to show the client is not the bottleneck.

Rounds are interleaved (hurtle, uvicorn, hurtle, uvicorn, ...) and the table
shows medians. Only 127.0.0.1 is used; every run is bounded by --duration.

    python benchmarks/ws_echo.py --rounds 5 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PAYLOAD = b"hurtle-benchmark-payload-32bytes"  # 32 bytes of text
MASK = b"\x01\x02\x03\x04"


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


async def measure(port: int, connections: int, window: int, duration: float) -> float:
    loop = asyncio.get_running_loop()
    counter = [0]
    transports = []
    readies = []
    for _ in range(connections):
        ready: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.create_connection(
            lambda ready=ready: EchoLoad(window, counter, ready), "127.0.0.1", port
        )
        transports.append(transport)
        readies.append(ready)
    await asyncio.wait_for(asyncio.gather(*readies), 10)
    await asyncio.sleep(0.5)  # Warm up.
    start_count, start = counter[0], time.perf_counter()
    await asyncio.sleep(duration)
    count, elapsed = counter[0] - start_count, time.perf_counter() - start
    for transport in transports:
        transport.abort()
    return count / elapsed


def run_client(port: int, args: argparse.Namespace) -> float:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        return runner.run(measure(port, args.connections, args.window, args.duration))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def server_command(name: str, port: int, args: argparse.Namespace) -> list[str]:
    app_dir = str(HERE / "apps")
    if name == "hurtle":
        python = sys.executable
        return [
            python, "-m", "hurtle", "ws_echo:app", "--app-dir", app_dir, "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--ws-ping-interval", "0",
        ]  # fmt: skip
    if name.startswith("uvicorn"):
        # "uvicorn" is its default WebSocket stack (--ws auto); "uvicorn-sansio"
        # its newer one on the same sans-I/O core as hurtle.
        ws = "websockets-sansio" if name == "uvicorn-sansio" else "auto"
        python = str(args.peers_python)
        return [
            python, "-m", "uvicorn", "ws_echo:app", "--app-dir", app_dir, "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--ws", ws,
            "--ws-ping-interval", "0", "--loop", "uvloop", "--http", "httptools",
        ]  # fmt: skip
    raise ValueError(name)


def pinned(command: list[str], cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if shutil.which("taskset") else command


def one_round(name: str, args: argparse.Namespace) -> float:
    port = free_port()
    server = subprocess.Popen(pinned(server_command(name, port, args), 0))
    try:
        wait_port(port)
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {1})
        return run_client(port, args)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


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
                self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
            return
        self.pending += len(data)
        frames, self.pending = divmod(self.pending, self.frame_size)
        self.transport.write(self.reply * frames)


def self_test(args: argparse.Namespace) -> float:
    """The client against a trivial echo on the other CPU: the client's own ceiling."""
    port = free_port()
    child = os.fork()
    if child == 0:  # pragma: no cover - the echo process
        os.sched_setaffinity(0, {0})
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(loop.create_server(_TrivialEcho, "127.0.0.1", port))
        loop.call_later(args.duration + 15, loop.stop)
        loop.run_forever()
        server.close()
        os._exit(0)
    try:
        wait_port(port)
        os.sched_setaffinity(0, {1})
        return run_client(port, args)
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
        "--peers-python",
        type=Path,
        default=HERE / ".venv-peers" / "bin" / "python",
        help="a Python with uvicorn[standard] installed",
    )
    parser.add_argument("--self-test", action="store_true", help="also measure the client alone")
    args = parser.parse_args()
    names = args.servers.split(",")
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(1, args.rounds + 1):
        for name in names:
            rate = one_round(name, args)
            results[name].append(rate)
            print(f"round {round_number}: {name:8s} {rate:10.0f} messages/s", file=sys.stderr)
    client_ceiling = self_test(args) if args.self_test else None
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
