"""Memory rows: the RSS of an idle server, and what one idle keep-alive connection adds.

The server serves benchmarks/apps/raw.py. Its RSS (VmRSS of /proc/PID/status,
summed over the process and any it started) is read one second after it
answered its first request: that is the idle figure. Then 100 connections
make a request each and close, to get lazy allocations out of the way; the
RSS is read again (before), N connections are opened, each makes one request
and stays open, and two seconds later the RSS is read a third time (after).
Per connection: (after - before) / the connections still open then. Servers
are told to keep idle connections for 10 minutes (granian: its maximum, 60 s),
longer than opening them takes, and granian to serve that many connections at
once. Opening them is bounded in time: a server that stops accepting gets a
figure over the connections it did take, and a note in the report.

The HTTP/2 row does the same with the server started with HTTP/2 on, over
cleartext: each connection sends the client preface and an empty SETTINGS
frame, waits for the server's SETTINGS and for its acknowledgement of ours,
acknowledges the server's, and then stays open and quiet (RFC 9113 section
3.4); it makes no request. Raw bytes, no HTTP/2 library: the client has
nothing else to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from typing import cast

from results import MemoryResult
from servers import (
    H2_EMPTY_SETTINGS,
    H2_PREFACE,
    H2_SETTINGS_TYPE,
    HOST,
    Protocol,
    RunningServer,
    ServerSetup,
)

REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
ANSWER_END = b"Hello, world!"  # The end of raw.py's /plaintext response.
WARMUP_CONNECTIONS = 100
OPENING_AT_ONCE = 200  # Connections being opened at the same time, well under the backlog.
ANSWER_SECONDS = 10  # For one connection's response.
OPENING_SECONDS = 120  # For all of them.


H2_ACK = 0x1  # The ACK flag of a SETTINGS frame.
H2_SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"
H2_FRAME_HEAD = 9  # Length (3 bytes), type, flags, stream identifier (4 bytes).


class IdleClient(asyncio.Protocol):
    """Makes one request, then stays open and quiet."""

    def __init__(self, answered: asyncio.Future[None]) -> None:
        self.answered = answered
        self.received = b""
        self.closed = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's too
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.received += data
        if self.received.endswith(ANSWER_END) and not self.answered.done():
            self.answered.set_result(None)
            self.received = b""

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.answered.done():
            self.answered.set_exception(ConnectionError("closed before the response"))

    def was_answered(self) -> bool:
        done = self.answered
        return done.done() and not done.cancelled() and done.exception() is None

    def reset(self) -> None:
        """Close with a reset, so that no TIME_WAIT holds a local port afterwards."""
        if self.transport is None or self.closed:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class IdleH2Client(IdleClient):
    """Completes the HTTP/2 connection preface and SETTINGS exchange, then stays quiet.

    "answered" is both halves of the exchange (RFC 9113 section 3.4): the server's own
    SETTINGS frame, acknowledged here, and its ACK of ours. Any other frame (WINDOW_UPDATE
    and the like) is skipped.
    """

    def __init__(self, answered: asyncio.Future[None]) -> None:
        super().__init__(answered)
        self.got_settings = False
        self.got_ack = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(H2_PREFACE + H2_EMPTY_SETTINGS)

    def data_received(self, data: bytes) -> None:
        if self.answered.done():
            return  # A PING or GOAWAY later on would end the idle state: not expected.
        self.received += data
        while len(self.received) >= H2_FRAME_HEAD:
            length = int.from_bytes(self.received[:3], "big")
            if len(self.received) < H2_FRAME_HEAD + length:
                break
            kind, flags = self.received[3], self.received[4]
            self.received = self.received[H2_FRAME_HEAD + length :]
            if kind == H2_SETTINGS_TYPE and flags & H2_ACK:
                self.got_ack = True
            elif kind == H2_SETTINGS_TYPE:
                self.got_settings = True
                assert self.transport is not None
                self.transport.write(H2_SETTINGS_ACK)
        if self.got_settings and self.got_ack:
            self.answered.set_result(None)
            self.received = b""


async def open_idle(port: int, count: int, protocol: Protocol = "http1") -> list[IdleClient]:
    """Up to `count` connections that each got one response (HTTP/2: finished the SETTINGS
    exchange); those that failed, or were not answered in time, are left out (and closed)."""
    loop = asyncio.get_running_loop()
    opening = asyncio.Semaphore(OPENING_AT_ONCE)
    clients: list[IdleClient] = []
    kind = IdleH2Client if protocol == "h2c" else IdleClient

    async def open_one() -> None:
        async with opening:
            answered: asyncio.Future[None] = loop.create_future()
            _, client = await loop.create_connection(lambda: kind(answered), HOST, port)
            clients.append(client)
            await asyncio.wait_for(answered, ANSWER_SECONDS)

    tasks = [asyncio.create_task(open_one()) for _ in range(count)]
    await asyncio.wait(tasks, timeout=OPENING_SECONDS)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    answered = [client for client in clients if client.was_answered()]
    for client in clients:
        if not client.was_answered():
            client.reset()
    return answered


async def per_connection(
    server: RunningServer, count: int, protocol: Protocol = "http1"
) -> tuple[int, int, int]:
    """RSS before and after `count` idle connections, and how many were open at the end."""
    warm = await open_idle(server.port, WARMUP_CONNECTIONS, protocol)
    for client in warm:
        client.reset()
    await asyncio.sleep(1.0)
    before = server.rss_kib()
    clients = await open_idle(server.port, count, protocol)
    await asyncio.sleep(2.0)
    after = server.rss_kib()
    still_open = sum(not client.closed for client in clients)
    for client in clients:
        client.reset()
    await asyncio.sleep(0.2)
    return before, after, still_open


def measure_memory(
    setup: ServerSetup, name: str, connections: int, protocol: Protocol = "http1"
) -> MemoryResult:
    """Both memory figures of one server; the calling process is the client. With "h2c"
    the server has HTTP/2 on and the idle connections are HTTP/2 ones."""
    with RunningServer(
        setup, name, "raw:app", idle_connections=connections, protocol=protocol
    ) as server:
        time.sleep(1.0)
        idle = server.rss_kib()
        try:
            import uvloop

            runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        except ImportError:
            runner = asyncio.Runner()
        with runner:
            before, after, still_open = runner.run(per_connection(server, connections, protocol))
    return MemoryResult(
        idle_rss_kib=idle,
        wanted_connections=connections,
        open_connections=still_open,
        rss_before_kib=before,
        rss_after_kib=after,
    )
