"""H1Connection in-process: the HTTP/1.1 connection's own rules, against a fake transport.

net/connection.py drives the parser (wire/h1.py) and the request cycles
(asgi/http.py); what it decides itself is when to read, when to write and
when to close: keep-alive and its idle timer, pipelining, Connection: close
and HTTP/1.0, the lingering close after a rejected request, read
backpressure, the header timeout, graceful shutdown, and the hand-over to
HTTP/2. Each test here drives a real H1Connection and a real ServerState on
a real event loop whose clock only the test moves (so timeouts are checked
without waiting and without depending on the machine's speed), and looks at
what reached the transport. tests/e2e/test_http.py checks the same rules
over real sockets.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from clock_loop import ClockLoop
from hurtle.asgi.http_core import BODY_HIGH_WATER
from hurtle.asgi.types import Receive, Scope, Send
from hurtle.config import Config
from hurtle.net.connection import H1Connection
from hurtle.net.state import ServerState
from hurtle.wire.h2 import PREFACE


class FakeTransport(asyncio.Transport):
    """A transport that records what was written and which calls were made.

    Like asyncio's own, closing it tells the protocol (connection_lost) in a
    later callback, and writing after write_eof() is an error.
    """

    def __init__(self, loop: ClockLoop, protocol: Any) -> None:
        super().__init__({"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)})
        self.loop = loop
        self.protocol = protocol
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False
        self.eof = False
        self.reading = True

    @property
    def output(self) -> bytes:
        return b"".join(self.writes)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        self.calls.append("write")
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        if self.eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        self.calls.append("writelines")
        self.writes.append(b"".join(bytes(data) for data in list_of_data))

    def close(self) -> None:
        self.calls.append("close")
        self._lose()

    def abort(self) -> None:
        self.calls.append("abort")
        self._lose()

    def _lose(self) -> None:
        if not self.closing:
            self.closing = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.calls.append("pause_reading")
        self.reading = False

    def resume_reading(self) -> None:
        self.calls.append("resume_reading")
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.calls.append("write_eof")
        self.eof = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.calls.append("set_protocol")
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


App = Callable[[Scope, Receive, Send], Awaitable[None]]


def connect(
    loop: ClockLoop, app: App, **options: Any
) -> tuple[H1Connection, FakeTransport, ServerState]:
    state = ServerState(Config(**options), app, loop)
    state.stop_ticking()  # The date is net/state.py's business (tests/net/test_state.py).
    connection = H1Connection(state)
    transport = FakeTransport(loop, connection)
    connection.connection_made(transport)
    return connection, transport, state


async def respond(
    send: Send, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


async def read_all(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body"):
            return body


def recording_app(started: list[str]) -> App:
    """Answers `path` with the path; `/sleep` first sleeps a second (of the test's clock)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        started.append(path)
        if path == "/sleep":
            await asyncio.sleep(1.0)
        body = await read_all(receive)
        await respond(send, b"%s %d" % (path.encode(), len(body)))

    return app


def get(path: str = "/", version: str = "1.1", headers: bytes = b"") -> bytes:
    return f"GET {path} HTTP/{version}\r\nHost: x\r\n".encode() + headers + b"\r\n"


def statuses(output: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", output)]


def bodies(output: bytes) -> list[bytes]:
    """The bodies of the responses in `output`, each framed by content-length."""
    found = []
    while output:
        head, _, output = output.partition(b"\r\n\r\n")
        match = re.search(rb"\r\ncontent-length: (\d+)(?:\r\n|$)", head)
        assert match is not None, head
        length = int(match.group(1))
        found.append(output[:length])
        output = output[length:]
    return found


# -- keep-alive (RFC 9112 section 9.3) ----------------------------------------------------


def test_two_requests_one_after_the_other_on_one_connection(loop: ClockLoop) -> None:
    started: list[str] = []
    connection, transport, state = connect(loop, recording_app(started))
    connection.data_received(get("/one"))
    loop.spin()
    assert bodies(transport.output) == [b"/one 0"]
    connection.data_received(get("/two"))
    loop.spin()
    assert bodies(transport.output) == [b"/one 0", b"/two 0"]
    assert b"connection: close" not in transport.output
    assert "close" not in transport.calls
    assert connection in state.connections
    assert (state.active_requests, state.total_requests) == (0, 2)


def test_an_idle_connection_closes_after_timeout_keep_alive(loop: ClockLoop) -> None:
    connection, transport, state = connect(loop, recording_app([]), timeout_keep_alive=5.0)
    connection.data_received(get())
    loop.spin()
    assert statuses(transport.output) == [200]
    loop.advance(4.9)
    assert not transport.closing
    loop.advance(0.2)
    assert transport.calls[-1] == "close"
    assert connection not in state.connections  # connection_lost ran.


def test_the_idle_clock_starts_again_after_each_response(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, recording_app([]), timeout_keep_alive=5.0)
    connection.data_received(get("/one"))
    loop.spin()
    loop.advance(4.0)
    connection.data_received(get("/two"))
    loop.spin()
    loop.advance(4.0)  # 8 s after the first response, 4 s after the second.
    assert not transport.closing
    assert statuses(transport.output) == [200, 200]
    loop.advance(1.1)
    assert transport.closing


def test_a_connection_that_never_sends_closes_after_timeout_keep_alive(
    loop: ClockLoop,
) -> None:
    _, transport, _ = connect(loop, recording_app([]), timeout_keep_alive=5.0)
    loop.advance(4.9)
    assert not transport.closing
    loop.advance(0.2)
    assert transport.calls == ["close"]


def test_no_idle_close_while_the_app_is_slower_than_the_keep_alive_timeout(
    loop: ClockLoop,
) -> None:
    connection, transport, _ = connect(loop, recording_app([]), timeout_keep_alive=0.5)
    connection.data_received(get("/sleep"))
    loop.advance(0.6)
    assert not transport.closing  # Busy, not idle.
    loop.advance(0.5)
    assert bodies(transport.output) == [b"/sleep 0"]
    assert not transport.closing
    loop.advance(0.6)
    assert transport.closing


# -- pipelining (RFC 9112 section 9.3.2) --------------------------------------------------


def test_pipelined_requests_are_answered_in_order(loop: ClockLoop) -> None:
    started: list[str] = []
    connection, transport, _ = connect(loop, recording_app(started))
    connection.data_received(get("/sleep") + get("/fast") + get("/third"))
    loop.spin()
    assert started == ["/sleep"]  # The others wait in the queue, not in apps.
    assert transport.output == b""
    assert transport.calls == ["pause_reading"]  # Reading pauses while one is queued.
    loop.advance(1.0)
    assert started == ["/sleep", "/fast", "/third"]
    assert bodies(transport.output) == [b"/sleep 0", b"/fast 0", b"/third 0"]
    assert "resume_reading" in transport.calls
    assert transport.reading
    assert not transport.closing


def test_a_pipelined_request_with_a_body_gets_its_body(loop: ClockLoop) -> None:
    started: list[str] = []
    connection, transport, _ = connect(loop, recording_app(started))
    post = b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    connection.data_received(get("/sleep") + post)
    loop.advance(1.0)
    assert bodies(transport.output) == [b"/sleep 0", b"/post 5"]


def test_a_pipelined_request_after_connection_close_is_not_served(loop: ClockLoop) -> None:
    started: list[str] = []
    connection, transport, _ = connect(loop, recording_app(started))
    connection.data_received(get("/sleep", headers=b"Connection: close\r\n") + get("/next"))
    loop.advance(1.0)
    assert started == ["/sleep"]
    assert bodies(transport.output) == [b"/sleep 0"]
    assert transport.closing


# -- closing after the response --------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        get(headers=b"Connection: close\r\n"),
        get(version="1.0"),
        get(version="1.0", headers=b"Connection: close\r\n"),
    ],
    ids=["connection-close", "http-1.0", "http-1.0-close"],
)
def test_closes_after_a_response_that_cannot_be_followed(
    loop: ClockLoop, request_bytes: bytes
) -> None:
    connection, transport, _ = connect(loop, recording_app([]))
    connection.data_received(request_bytes)
    loop.spin()
    assert statuses(transport.output) == [200]
    assert b"\r\nconnection: close\r\n" in transport.output
    assert transport.calls == ["write", "close"]  # The response is out before the close.


def test_http_1_0_keep_alive_is_kept(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, recording_app([]))
    connection.data_received(get(version="1.0", headers=b"Connection: keep-alive\r\n"))
    loop.spin()
    assert b"\r\nconnection: keep-alive\r\n" in transport.output
    assert not transport.closing
    connection.data_received(get(version="1.0"))
    loop.spin()
    assert statuses(transport.output) == [200, 200]
    assert transport.closing


def test_the_app_asking_for_close_closes(loop: ClockLoop) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, b"bye", [(b"connection", b"close")])

    connection, transport, _ = connect(loop, app)
    connection.data_received(get())
    loop.spin()
    assert bodies(transport.output) == [b"bye"]
    assert transport.calls[-1] == "close"


def test_limit_requests_per_connection_closes_after_the_last(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, recording_app([]), limit_requests_per_connection=2)
    connection.data_received(get("/one"))
    loop.spin()
    assert not transport.closing
    connection.data_received(get("/two"))
    loop.spin()
    assert bodies(transport.output) == [b"/one 0", b"/two 0"]
    assert transport.output.count(b"connection: close") == 1
    assert transport.closing


# -- a rejected request: answered, then a lingering close (RFC 9112 section 9.6) ------------


def test_a_rejected_request_is_answered_then_the_connection_lingers(loop: ClockLoop) -> None:
    started: list[str] = []
    connection, transport, _ = connect(loop, recording_app(started))
    connection.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
    loop.spin()
    assert statuses(transport.output) == [400]
    assert b"connection: close" in transport.output
    assert started == []
    # FIN after the response, not a close: a reset could destroy the response.
    assert transport.calls == ["write", "write_eof"]
    connection.data_received(get("/after"))  # Read and dropped.
    loop.spin()
    assert started == []
    assert statuses(transport.output) == [400]
    loop.advance(1.9)
    assert not transport.closing
    loop.advance(0.2)
    assert transport.calls == ["write", "write_eof", "close"]


def test_a_rejected_request_behind_a_response_waits_for_it(loop: ClockLoop) -> None:
    started: list[str] = []
    connection, transport, _ = connect(loop, recording_app(started))
    connection.data_received(get("/sleep") + b"BAD\x00 / HTTP/1.1\r\n\r\n")
    loop.spin()
    assert transport.output == b""
    loop.advance(1.0)
    assert statuses(transport.output) == [200, 400]
    assert bodies(transport.output)[0] == b"/sleep 0"
    assert "write_eof" in transport.calls


# -- read backpressure ---------------------------------------------------------------------


def reads_after_a_second(received: list[int]) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(1.0)
        body = await read_all(receive)
        received.append(len(body))
        await respond(send, b"%d" % len(body))

    return app


def post_head(length: int) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % length


def test_unread_body_beyond_the_high_water_mark_pauses_reading(loop: ClockLoop) -> None:
    received: list[int] = []
    connection, transport, _ = connect(loop, reads_after_a_second(received))
    size = BODY_HIGH_WATER * 3
    connection.data_received(post_head(size) + b"x" * BODY_HIGH_WATER)
    loop.spin()
    assert transport.reading  # At the mark, not beyond it.
    connection.data_received(b"x")
    loop.spin()
    assert transport.calls == ["pause_reading"]
    assert not transport.reading
    loop.advance(1.0)  # The app reads: credit, and reading goes on.
    assert transport.calls == ["pause_reading", "resume_reading"]
    connection.data_received(b"x" * (size - BODY_HIGH_WATER - 1))
    loop.spin()
    assert received == [size]
    assert bodies(transport.output) == [b"%d" % size]


def test_a_body_read_as_it_comes_never_pauses_reading(loop: ClockLoop) -> None:
    received: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_all(receive)
        received.append(len(body))
        await respond(send, b"ok")

    connection, transport, _ = connect(loop, app)
    size = BODY_HIGH_WATER * 4
    connection.data_received(post_head(size))
    for _ in range(8):
        connection.data_received(b"x" * (size // 8))
        loop.spin()
    assert received == [size]
    assert "pause_reading" not in transport.calls


# -- the header timeout (RFC 9112 section 9.5; docs/security.md) -------------------------


def test_headers_that_take_too_long_get_408_then_a_lingering_close(loop: ClockLoop) -> None:
    started: list[str] = []
    connection, transport, _ = connect(loop, recording_app(started), timeout_request_header=10.0)
    connection.data_received(b"GET / HTTP/1.1\r\nHost:")
    loop.advance(9.9)
    assert transport.output == b""
    connection.data_received(b" x\r\nX-Slow: 1\r\n")  # Trickling in does not restart it.
    loop.advance(0.2)
    assert statuses(transport.output) == [408]
    assert started == []
    assert transport.calls == ["write", "write_eof"]
    loop.advance(2.1)
    assert transport.calls[-1] == "close"


def test_the_header_clock_starts_again_for_each_request(loop: ClockLoop) -> None:
    connection, transport, _ = connect(
        loop, recording_app([]), timeout_request_header=10.0, timeout_keep_alive=60.0
    )
    connection.data_received(get("/one"))
    loop.spin()
    loop.advance(8.0)
    connection.data_received(b"GET /two HTTP/1.1\r\n")
    loop.advance(8.0)  # 16 s after the first head, 8 s after the second began.
    assert statuses(transport.output) == [200]
    connection.data_received(b"Host: x\r\n\r\n")
    loop.spin()
    assert statuses(transport.output) == [200, 200]
    assert not transport.closing


# -- graceful shutdown ---------------------------------------------------------------------


def test_shutdown_of_an_idle_connection_closes_it_at_once(loop: ClockLoop) -> None:
    connection, transport, state = connect(loop, recording_app([]))
    connection.data_received(get())
    loop.spin()
    connection.shutdown()
    assert transport.calls == ["write", "close"]
    loop.spin()
    assert connection not in state.connections


def test_shutdown_of_a_busy_connection_closes_it_after_the_response(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, recording_app([]))
    connection.data_received(get("/sleep"))
    loop.spin()
    connection.shutdown()
    loop.spin()
    assert not transport.closing
    loop.advance(1.0)
    assert bodies(transport.output) == [b"/sleep 0"]
    assert b"connection: close" in transport.output  # The client is told.
    assert transport.calls == ["write", "close"]


def test_shutdown_while_a_request_body_is_read_waits_for_the_response(loop: ClockLoop) -> None:
    received: list[int] = []
    connection, transport, _ = connect(loop, reads_after_a_second(received))
    connection.data_received(post_head(10) + b"12345")
    loop.spin()
    connection.shutdown()
    loop.spin()
    assert not transport.closing
    connection.data_received(b"67890")
    loop.advance(1.0)
    assert received == [10]
    assert transport.calls[-2:] == ["write", "close"]


# -- the client's FIN ------------------------------------------------------------------


def test_eof_received_returns_false_so_asyncio_closes_the_connection(loop: ClockLoop) -> None:
    connection, _, _ = connect(loop, recording_app([]))
    assert connection.eof_received() is False


def test_connection_lost_tells_the_app_the_client_is_gone(loop: ClockLoop) -> None:
    heard: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await read_all(receive)
        heard.append(await receive())

    connection, _, state = connect(loop, app)
    connection.data_received(get())
    loop.spin()
    assert heard == []
    connection.connection_lost(None)
    loop.spin()
    assert heard == [{"type": "http.disconnect"}]
    assert connection not in state.connections
    assert state.active_requests == 0


# -- the hand-over to HTTP/2 (prior knowledge, RFC 9113 section 3.3) ----------------------


def test_the_preface_as_first_bytes_hands_the_transport_to_http2(loop: ClockLoop) -> None:
    from hurtle.net.h2 import H2Connection

    connection, transport, state = connect(loop, recording_app([]), http2=True)
    connection.data_received(PREFACE)
    loop.spin()
    assert transport.calls[0] == "set_protocol"
    assert type(transport.protocol) is H2Connection
    assert transport.protocol in state.connections
    assert connection not in state.connections
    # The server's connection preface, a SETTINGS frame (RFC 9113 section 3.4).
    assert transport.output[3] == 0x04
    assert not transport.closing


def test_a_preface_cut_in_two_still_hands_over(loop: ClockLoop) -> None:
    from hurtle.net.h2 import H2Connection

    connection, transport, _ = connect(loop, recording_app([]), http2=True)
    connection.data_received(PREFACE[:7])
    loop.spin()
    assert transport.calls == []
    assert transport.protocol is connection
    connection.data_received(PREFACE[7:])
    loop.spin()
    assert type(transport.get_protocol()) is H2Connection


def test_a_request_that_starts_like_the_preface_is_http_1_1(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, recording_app([]), http2=True)
    connection.data_received(b"P")
    connection.data_received(b"OST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    loop.spin()
    assert "set_protocol" not in transport.calls
    assert bodies(transport.output) == [b"/p 2"]


def test_without_http2_the_preface_is_no_hand_over(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, recording_app([]), http2=False)
    connection.data_received(PREFACE)
    loop.spin()
    assert "set_protocol" not in transport.calls
    assert transport.protocol is connection


# -- trailers (RFC 9112 section 7.1.2, asgiref "HTTP Trailers") ---------------------------


async def trailers_app(scope: Scope, receive: Receive, send: Send) -> None:
    assert "http.response.trailers" in scope["extensions"]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"trailer", b"x-checksum")],
            "trailers": True,
        }
    )
    await send({"type": "http.response.body", "body": b"abc", "more_body": True})
    await send({"type": "http.response.body", "body": b"def"})
    await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"9")]})


def test_trailers_go_to_a_client_that_sent_te_trailers(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, trailers_app)
    connection.data_received(get(headers=b"TE: trailers\r\n"))
    loop.spin()
    head, _, body = transport.output.partition(b"\r\n\r\n")
    assert b"\r\ntransfer-encoding: chunked" in head
    assert b"\r\ntrailer: x-checksum" in head  # The app's own announcement.
    assert body == b"3\r\nabc\r\n3\r\ndef\r\n0\r\nx-checksum: 9\r\n\r\n"
    # The connection stays open for the next request.
    connection.data_received(get(headers=b"te: gzip, trailers;q=1\r\n"))
    loop.spin()
    assert transport.output.count(b"0\r\nx-checksum: 9\r\n\r\n") == 2
    assert "close" not in transport.calls


def test_trailers_are_dropped_for_a_client_without_te_trailers(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, trailers_app)
    connection.data_received(get(headers=b"TE: gzip\r\n"))
    loop.spin()
    assert transport.output.endswith(b"\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
    assert b"x-checksum: 9" not in transport.output
    connection.data_received(get())
    loop.spin()
    assert statuses(transport.output) == [200, 200]


def test_trailers_to_an_http_1_0_client_end_with_the_close(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, trailers_app)
    connection.data_received(get(version="1.0", headers=b"TE: trailers\r\n"))
    loop.spin()
    assert transport.output.endswith(b"\r\n\r\nabcdef")
    assert b"transfer-encoding" not in transport.output
    assert transport.calls[-1] == "close"


def test_trailers_of_a_response_to_head_are_dropped_with_the_body(loop: ClockLoop) -> None:
    connection, transport, _ = connect(loop, trailers_app)
    connection.data_received(b"HEAD / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
    loop.spin()
    assert transport.output.endswith(b"\r\n\r\n")
    assert b"abc" not in transport.output and b"x-checksum: 9" not in transport.output
    connection.data_received(get(headers=b"TE: trailers\r\n"))
    loop.spin()
    assert transport.output.endswith(b"0\r\nx-checksum: 9\r\n\r\n")
