"""hurtle's own cost per request, without sockets: what docs/performance.md quotes.

wrk against a real server measures everything at once: the kernel's TCP
stack, the event loop, the parser, hurtle, the app. This script measures the
part hurtle controls. It drives `H1Connection`s the way the event loop does,
with `data_received(bytes)` and transports whose `write` keeps nothing, and
runs the raw ASGI app of benchmarks/apps/raw.py, so no socket, no system call
and no client is in the figure. As under load from wrk, each turn of the loop
brings a read to each of --connections connections, then runs what those reads
started (the app tasks, the coalesced writes). The cost of empty turns is
measured separately and subtracted.

    python benchmarks/per_request.py                         # µs per request, medians
    python benchmarks/per_request.py --hurtle-src /tmp/old/src   # another checkout
    python benchmarks/per_request.py --profile plaintext     # where those µs go, by layer
    python benchmarks/per_request.py --workloads h2c --connections 10   # HTTP/2, as h2load -c10 -m10

The h2c workload drives HTTP/2 (net/h2.py's H2Connection) the same way: each
connection gets the client preface and SETTINGS once (its H1Connection hands
the transport over, as with a real h2c client with prior knowledge), then per
turn one read of H2_STREAMS HEADERS frames (GET /plaintext, END_STREAM), each
on a new stream, with the WINDOW_UPDATE that gives back the connection window
the previous batch's responses used.

Run it pinned (`taskset -c 0`) and with the Python the comparison is about.
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
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REQUEST = b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
PIPELINE_DEPTH = 16
UPLOAD_SIZE = 64 * 1024
READ_SIZE = 65536  # What one read from the socket hands data_received, at most.
WORKLOADS = ("plaintext", "json", "pipelined", "upload", "stream", "websocket", "h2c")
# The websocket workload: echoes of 32-byte text messages, WS_BATCH frames a read,
# as the load client of benchmarks/ws_echo.py keeps them in flight.
WS_BATCH = 32
WS_PAYLOAD = b"hurtle-benchmark-payload-32bytes"
WS_MASK = b"\x01\x02\x03\x04"
WS_SERVER_FRAME = 2 + len(WS_PAYLOAD)  # What one echo writes: header and payload.
WS_HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
# The h2c workload: streams opened a read, as `h2load -m 10` keeps them in flight.
H2_STREAMS = 10
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_BODY = 13  # The bytes of /plaintext's body: connection window a response uses.
REQUESTS_PER_READ = {"pipelined": PIPELINE_DEPTH, "websocket": WS_BATCH, "h2c": H2_STREAMS}
# Options of the measured server beyond the defaults (--metrics sets metrics_bind).
CONFIG_OPTIONS: dict[str, Any] = {}


class NullTransport(asyncio.Transport):
    """Takes what hurtle writes and counts it; never pushes back."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.protocol: Any = None
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol  # A WebSocket handshake hands the connection on.

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.written += len(data)

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


def h2_frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + stream_id.to_bytes(4, "big")
        + payload
    )


# GET /plaintext in HPACK: indexed :method GET (2) and :scheme http (6), then
# literals without indexing whose names are indexed (:path 4, :authority 1,
# user-agent 58, accept 19), so that every block decodes alone, in any order.
def _literal(index: int, value: bytes) -> bytes:
    return (
        bytes([index]) + bytes([len(value)]) + value
        if index < 15
        else (bytes([0x0F, index - 15, len(value)]) + value)
    )


H2_REQUEST_BLOCK = (
    b"\x82\x86"
    + _literal(4, b"/plaintext")
    + _literal(1, b"127.0.0.1:8000")
    + _literal(58, b"h2load")
    + _literal(19, b"*/*")
)
H2_OPENING = H2_PREFACE + h2_frame(0x4, 0, 0, b"")  # Preface, empty SETTINGS.
H2_SETTINGS_ACK = h2_frame(0x4, 0x1, 0, b"")


def h2_batch(first_stream: int) -> bytes:
    """One read of H2_STREAMS requests from stream `first_stream` on, and the
    connection window the last batch's responses used."""
    frames = [h2_frame(0x1, 0x5, first_stream + 2 * i, H2_REQUEST_BLOCK) for i in range(H2_STREAMS)]
    window = (H2_STREAMS * H2_BODY).to_bytes(4, "big")
    return h2_frame(0x8, 0, 0, window) + b"".join(frames)


def reads_for(workload: str) -> list[bytes]:
    """What data_received gets, read by read, for one request (or one pipelined batch)."""
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
    if workload == "h2c":
        return [h2_batch(1)]  # Driver.run makes each turn's (stream ids move on).
    if workload == "websocket":
        masked = bytes(byte ^ WS_MASK[i % 4] for i, byte in enumerate(WS_PAYLOAD))
        return [(bytes([0x81, 0x80 | len(WS_PAYLOAD)]) + WS_MASK + masked) * WS_BATCH]
    raise SystemExit(f"unknown workload {workload!r}")


class Driver:
    """Connections of one server state, fed read by read, one read each per loop turn."""

    def __init__(self, connections: int, workload: str) -> None:
        import raw
        import ws_echo

        from hurtle.config import Config
        from hurtle.net.connection import H1Connection
        from hurtle.net.state import ServerState

        self.loop = asyncio.get_running_loop()
        self.next_stream = 1  # The h2c workload: the first stream of the next batch.
        config = Config(
            app="raw:app", access_log=False, limit_requests_per_connection=None, **CONFIG_OPTIONS
        )
        app = ws_echo.app if workload == "websocket" else raw.app
        self.state = ServerState(config, app, self.loop)
        self.transports = [NullTransport() for _ in range(connections)]
        self.connections: list[Any] = [H1Connection(self.state) for _ in range(connections)]
        for connection, transport in zip(self.connections, self.transports, strict=True):
            connection.connection_made(transport)

    async def open_websockets(self) -> None:
        """Each connection's handshake, answered: from here its WebSocket reads."""
        for connection in self.connections:
            connection.data_received(WS_HANDSHAKE)
        for _ in range(100):
            await asyncio.sleep(0)
            if all(transport.written for transport in self.transports):
                break
        else:
            raise SystemExit("the WebSocket handshakes were not answered")
        self.connections = [transport.protocol for transport in self.transports]

    async def open_h2(self) -> None:
        """Each connection's preface and SETTINGS; from here it speaks HTTP/2."""
        for connection in self.connections:
            connection.data_received(H2_OPENING)
        await asyncio.sleep(0)
        if not all(transport.written for transport in self.transports):
            raise SystemExit("the HTTP/2 prefaces were not answered")
        self.connections = [transport.protocol for transport in self.transports]
        for connection in self.connections:
            connection.data_received(H2_SETTINGS_ACK)
        await asyncio.sleep(0)
        self.next_stream = 1

    async def open(self, workload: str) -> None:
        if workload == "websocket":
            await self.open_websockets()
        elif workload == "h2c":
            await self.open_h2()

    async def run(self, workload: str, rounds: int) -> float:
        """Seconds for `rounds` x len(connections) units of the workload."""
        reads = reads_for(workload)
        feeds = [connection.data_received for connection in self.connections]
        state = self.state
        pause = asyncio.sleep
        transports = self.transports
        echoes = WS_BATCH * WS_SERVER_FRAME
        written = sum(transport.written for transport in transports)
        started = time.perf_counter()
        for _ in range(rounds):
            if workload == "h2c":
                data = h2_batch(self.next_stream)
                self.next_stream += 2 * H2_STREAMS
                for feed in feeds:
                    feed(data)
                await pause(0)
                while state.active_requests:
                    await pause(0)
                continue
            if workload == "websocket":
                # The session stays open: done when every echo of the batch is written.
                targets = [transport.written + echoes for transport in transports]
                for feed in feeds:
                    feed(reads[0])
                await pause(0)
                while any(t.written < n for t, n in zip(transports, targets, strict=True)):
                    await pause(0)
                continue
            for data in reads:
                for feed in feeds:
                    feed(data)
                await pause(0)
            while state.active_requests:
                await pause(0)
        await pause(0)  # The last coalesced writes.
        elapsed = time.perf_counter() - started
        if any(transport.closed for transport in self.transports):
            raise SystemExit("a connection closed: the workload went wrong")
        if workload == "h2c":
            # At least a HEADERS and a DATA frame (9 bytes each) and the body per request.
            least = rounds * len(transports) * H2_STREAMS * (18 + H2_BODY)
            if sum(transport.written for transport in transports) - written < least:
                raise SystemExit("the HTTP/2 requests were not all answered")
        return elapsed

    def close(self) -> None:
        for connection in self.connections:
            connection.connection_lost(None)
        self.state.stop_ticking()


class FloorProtocol(asyncio.Protocol):
    """The least a Python ASGI server can do per request: a yardstick, not a server.

    llhttp callbacks, a scope dict, a task per request, one write of the
    response. No validation of what the app sends, no framing decisions, no
    timeouts, no keep-alive or pipelining rules, no limits, no access log.
    """

    ASGI = {"version": "3.0", "spec_version": "2.4"}

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        import httptools

        self.app = app
        self.loop = loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.scope: dict[str, Any] = {}
        self.head = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        path, _, query = self.url.partition(b"?")
        self.scope = {
            "type": "http", "asgi": self.ASGI, "http_version": "1.1", "server": None,
            "client": None, "scheme": "http", "method": self.parser.get_method().decode(),
            "root_path": "", "path": path.decode(), "raw_path": path, "query_string": query,
            "headers": self.headers, "state": {}, "extensions": {},
        }  # fmt: skip

    def on_message_complete(self) -> None:
        self.loop.create_task(self.app(self.scope, self.receive, self.send))

    async def receive(self) -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            lines = b"".join(b"%s: %s\r\n" % pair for pair in message["headers"])
            self.head = b"HTTP/1.1 200 OK\r\n" + lines + b"\r\n"
        else:
            self.transport.write(self.head + message["body"])


async def measure_floor(requests: int, connections: int) -> float:
    """µs per plaintext request of FloorProtocol, measured as measure_once measures hurtle."""
    import raw

    loop = asyncio.get_running_loop()
    protocols = [FloorProtocol(raw.app, loop) for _ in range(connections)]
    for protocol in protocols:
        protocol.connection_made(NullTransport())
    feeds = [protocol.data_received for protocol in protocols]
    data = REQUEST % b"plaintext"
    rounds = max(1, requests // connections)
    pause = asyncio.sleep
    started = time.perf_counter()
    for _ in range(rounds):
        for feed in feeds:
            feed(data)
        await pause(0)
    await pause(0)
    busy = time.perf_counter() - started
    idle = await empty_turns(rounds)
    return (busy - idle) / (rounds * connections) * 1e6


async def empty_turns(turns: int) -> float:
    pause = asyncio.sleep
    started = time.perf_counter()
    for _ in range(turns):
        await pause(0)
    return time.perf_counter() - started


async def measure_once(workload: str, requests: int, connections: int) -> float:
    """µs per request, the empty loop turns taken out."""
    driver = Driver(connections, workload)
    await driver.open(workload)
    per_round = connections * REQUESTS_PER_READ.get(workload, 1)
    rounds = max(1, requests // per_round)
    await driver.run(workload, max(1, rounds // 10))  # Warm-up.
    gc.collect()
    busy = await driver.run(workload, rounds)
    driver.close()
    idle = await empty_turns(rounds * len(reads_for(workload)))
    return (busy - idle) / (rounds * per_round) * 1e6


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def measure(loop_name: str, workload: str, requests: int, connections: int, rounds: int) -> float:
    results = []
    for _ in range(rounds):
        loop = new_loop(loop_name)
        try:
            results.append(loop.run_until_complete(measure_once(workload, requests, connections)))
        finally:
            loop.close()
    return statistics.median(results)


# Where a function's own time is counted in --profile, by the path of its file.
LAYERS = (
    ("hurtle/wire/", "wire: parsing, response framing, header checks"),
    ("hurtle/asgi/", "asgi: scope, receive/send, the request cycle"),
    ("hurtle/net/", "net: connection, dispatch, timers, writes"),
    ("benchmarks/apps/", "the app (raw ASGI)"),
    ("asyncio/", "asyncio (Python part)"),
)


def profile(loop_name: str, workload: str, requests: int, connections: int, top: int) -> None:
    """cProfile shares by layer, scaled to the µs measured without the profiler."""
    plain = measure(loop_name, workload, requests, connections, 3)

    async def profiled() -> pstats.Stats:
        driver = Driver(connections, workload)
        await driver.open(workload)
        per_round = connections * REQUESTS_PER_READ.get(workload, 1)
        rounds = max(1, requests // per_round)
        await driver.run(workload, max(1, rounds // 10))
        profiler = cProfile.Profile()
        profiler.enable()
        await driver.run(workload, rounds)
        profiler.disable()
        driver.close()
        return pstats.Stats(profiler)

    loop = new_loop(loop_name)
    try:
        stats = loop.run_until_complete(profiled())
    finally:
        loop.close()
    by_layer: dict[str, float] = defaultdict(float)
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    entries = stats.stats  # type: ignore[attr-defined]
    total = 0.0
    for (path, _, _), (_, _, own, _, _) in entries.items():
        if "per_request.py" in path or "cProfile" in path:
            continue  # The driver itself.
        layer = next((name for marker, name in LAYERS if marker in path), None)
        if layer is None:
            layer = "C code called from Python (llhttp, uvloop, builtins)"
        by_layer[layer] += own
        total += own
    print(f"{workload}: {plain:.2f} µs per request without the profiler; shares from cProfile")
    from hurtle._pure import compiled_modules

    compiled = compiled_modules()
    if compiled:
        # cProfile sees a compiled function as one C call into it, its time
        # charged to whichever Python function called it.
        print(f"(compiled here: {', '.join(compiled)}; HURTLE_PURE_PYTHON=1 for layer shares)")
    print("| layer | share | µs per request |")
    print("| :--- | ---: | ---: |")
    for layer, own in sorted(by_layer.items(), key=lambda item: -item[1]):
        print(f"| {layer} | {own / total:.0%} | {plain * own / total:.2f} |")
    print()
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hurtle-src", type=Path, default=HERE.parent / "src")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--requests", type=int, default=200_000, help="requests a round")
    parser.add_argument(
        "--connections", type=int, default=32, help="connections read from in each loop turn"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", metavar="WORKLOAD", help="where the time goes, by layer")
    parser.add_argument("--top", type=int, default=0, help="with --profile: the top functions")
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="with Prometheus metrics on (--metrics-bind; nothing listens, the counting is measured)",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip the FloorProtocol row (for instruction counts of the workloads alone)",
    )
    args = parser.parse_args()
    if args.metrics:
        CONFIG_OPTIONS["metrics_bind"] = "127.0.0.1:9100"
    sys.path[:0] = [str(args.hurtle_src.resolve()), str(HERE / "apps")]
    import hurtle

    if not Path(hurtle.__file__).resolve().is_relative_to(args.hurtle_src.resolve()):
        raise SystemExit(f"hurtle was not imported from {args.hurtle_src}")
    if args.profile:
        profile(args.loop, args.profile, args.requests, args.connections, args.top)
        return
    version = ".".join(map(str, sys.version_info[:3]))
    print(
        f"Python {version}, {args.loop}, {args.connections} connections a turn, "
        f"median of {args.rounds} rounds, hurtle from {args.hurtle_src}"
    )
    print("| workload | µs per request |")
    print("| :--- | ---: |")
    for workload in args.workloads.split(","):
        # Fewer of the heavy ones: each moves 64 KiB or 1 MiB.
        requests = args.requests // 20 if workload in ("stream", "upload") else args.requests
        figure = measure(args.loop, workload, requests, args.connections, args.rounds)
        print(f"| {workload} | {figure:.2f} |")
    if args.no_floor:
        return
    floors = []
    for _ in range(args.rounds):
        loop = new_loop(args.loop)
        try:
            floors.append(loop.run_until_complete(measure_floor(args.requests, args.connections)))
        finally:
            loop.close()
    print(
        f"| plaintext, FloorProtocol (the least a Python server does) | {statistics.median(floors):.2f} |"
    )


if __name__ == "__main__":
    main()
