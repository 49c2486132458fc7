"""Hostile input against a real hurtle: strict parsing, limits, timeouts.

Each test cites the rule it defends: RFC 9112 (HTTP/1.1 message syntax and
framing), RFC 9110 (HTTP semantics). Every rejection must close the
connection, and nothing after a rejected request may be read as a request
(no smuggling): the apps here count how many requests reached them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from apps.basic import body_reader_held_until
from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, parse_responses, read_to_eof, read_until, wait_for

Serve = Callable[..., InProcessServer]


class CountingApp:
    """Answers 200 with the request's method and path; counts what reached it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.events: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.requests.append(f"{scope['method']} {scope['path']}")
        while True:
            message = await receive()
            self.events.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send `data`; return what came back and whether the server closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        closed = False
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                chunks.append(chunk)
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
        return b"".join(chunks), closed


FOLLOW_UP = b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

# (rule, request bytes, expected status)
MALFORMED = [
    (
        "RFC 9112 6.1: Content-Length together with Transfer-Encoding",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
    ),
    (
        "RFC 9112 6.3: differing Content-Length values",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    (
        "RFC 9112 6.3: a list of Content-Length values",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
        400,
    ),
    (
        "RFC 9110 8.6: Content-Length not a number",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3a\r\n\r\nabc",
        400,
    ),
    (
        "RFC 9110 8.6: negative Content-Length",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        400,
    ),
    (
        "RFC 9110 8.6: Content-Length with a sign",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
        400,
    ),
    (
        "RFC 9112 6.1: final transfer coding not chunked",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        400,
    ),
    (
        "RFC 9112 6.1: chunked not last",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "RFC 9112 6.1: chunked twice",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    ("RFC 9112 5.2: obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", 400),
    ("RFC 9112 2.2: bare CR in a field", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r2\r\n\r\n", 400),
    ("RFC 9112 2.2: bare CR ending a line", b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    (
        "RFC 9110 5.5: NUL in a field value",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n",
        400,
    ),
    (
        "RFC 9112 5.1: whitespace before the colon",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n",
        400,
    ),
    (
        "RFC 9112 5.1: whitespace in a field name",
        b"GET / HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n",
        400,
    ),
    (
        "RFC 9112 7.1: chunk size not hex",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    (
        "RFC 9112 7.1: chunk size overflow",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    (
        "RFC 9112 7.1: chunk data longer than its size",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n",
        400,
    ),
    ("RFC 9112 3.2: HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400),
    ("RFC 9112 3.2: two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("RFC 9112 2.3: no version (HTTP/0.9)", b"GET /\r\nHost: a\r\n\r\n", 505),
    ("RFC 9110 9.1: method not a token", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("RFC 9112 2.3: unknown version", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (
        "RFC 9112 6.1: a transfer coding hurtle does not decode",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        501,
    ),
    ("RFC 9112 3.2: an invalid Host value", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    (
        "RFC 9110 4.2.1: an absolute-form target without a host",
        b"GET http:///admin HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
    ),
    (
        "RFC 9110 4.2.4: userinfo in an absolute-form target",
        b"GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
    ),
    ("RFC 9112 3.2.4: the * target without OPTIONS", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("RFC 9112 3.2.3: CONNECT without host:port", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (
        "RFC 9112 2.2: whitespace before the first field",
        b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
        400,
    ),
    (
        "RFC 9112 7.1: chunked with a parameter",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n",
        400,
    ),
]


@pytest.mark.parametrize(
    ("rule", "request_bytes", "status"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_requests_are_rejected_and_closed(
    serve_app: Serve, rule: str, request_bytes: bytes, status: int
) -> None:
    app = CountingApp()
    server = serve_app(app)
    reply, closed = exchange(server.port, request_bytes + FOLLOW_UP)
    responses, _ = parse_responses(reply, ["GET"])
    assert responses and responses[0].status == status, reply
    assert len(responses) == 1, f"{rule}: more than one response: {reply!r}"
    assert closed, f"{rule}: the connection stayed open"
    assert "GET /smuggled" not in app.requests, f"{rule}: a smuggled request reached the app"


@pytest.mark.parametrize(
    "connection", [b"Connection: keep-alive\r\n", b""], ids=["keep-alive", "default"]
)
def test_http10_with_transfer_encoding_is_answered_then_closed(
    serve_app: Serve, connection: bytes
) -> None:
    """RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing;
    the server MUST close the connection after processing it. A 1.0 proxy in front may
    not have removed the coding and so framed the bytes differently: the second request
    here would be a smuggled one. It is never answered and never reaches the app."""
    app = CountingApp()
    server = serve_app(app)
    first = (
        b"POST /first HTTP/1.0\r\nTransfer-Encoding: chunked\r\n" + connection + b"\r\n"
        b"3\r\nabc\r\n0\r\n\r\n"
    )
    second = b"GET /second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    reply, closed = exchange(server.port, first + second)
    assert reply.startswith(b"HTTP/1.1 200 "), reply
    assert reply.count(b"HTTP/1.1 ") == 1, reply
    head = reply.partition(b"\r\n\r\n")[0].lower()
    assert b"\r\nconnection: close" in head
    assert closed
    assert app.requests == ["POST /first"]
    assert app.events == ["http.request"]  # The chunked body was read, to its end.


def test_oversized_chunk_extension_is_rejected(serve_app: Serve) -> None:
    """RFC 9112 7.1.1: chunk extensions are bounded (4 KiB here), whatever the read size."""
    app = CountingApp()
    server = serve_app(app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=")
        try:
            for _ in range(40):  # 40 x 1 KiB in separate reads, never ending the line
                sock.sendall(b"x" * 1024)
                time.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError):
            pass  # Refused before the end: fine.
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert b"chunk extensions" in reply


def test_the_same_framing_is_seen_by_parser_and_server(serve_app: Serve) -> None:
    """No request smuggling: a body is never read as a request (RFC 9112 section 6.3).

    The body of the first request looks like a request; it must reach the app
    as body, and exactly two requests may be served."""
    app = CountingApp()
    server = serve_app(app)
    inner = b"GET /inner HTTP/1.1\r\nHost: a\r\n\r\n"
    data = (
        b"POST /outer HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" % (len(inner), inner)
        + b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner)
        + b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    reply, closed = exchange(server.port, data)
    responses, _ = parse_responses(reply, ["POST", "POST", "GET"])
    assert [r.status for r in responses] == [200, 200, 200]
    assert app.requests == ["POST /outer", "POST /chunked", "GET /last"]
    assert closed


# -- limits --------------------------------------------------------------------------


def test_request_line_limit_is_414(serve_app: Serve) -> None:
    server = serve_app(CountingApp(), limit_request_line=1024)
    reply, closed = exchange(server.port, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 414 ") and closed


def test_header_count_limit_is_431(serve_app: Serve) -> None:
    server = serve_app(CountingApp(), limit_request_headers=10)
    headers = b"".join(b"X-%d: v\r\n" % i for i in range(11))
    reply, closed = exchange(server.port, b"GET / HTTP/1.1\r\nHost: a\r\n" + headers + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ") and closed


def test_header_bytes_limit_is_431_even_when_dribbled(serve_app: Serve) -> None:
    """A header that never ends is refused long before memory grows (slow or fast)."""
    server = serve_app(CountingApp(), limit_request_header_size=1024)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ")
        sent = 0
        try:
            for _ in range(1024):  # up to 1 MiB, in 1 KiB reads
                sock.sendall(b"a" * 1024)
                sent += 1024
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply


def test_body_limit_by_content_length_is_413_before_the_app(serve_app: Serve) -> None:
    app = CountingApp()
    server = serve_app(app, limit_request_body=1000)
    reply, closed = exchange(
        server.port, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001
    )
    assert reply.startswith(b"HTTP/1.1 413 ") and closed
    assert app.requests == []
    ok = httpx.post(server.url, content=b"x" * 1000)
    assert ok.status_code == 200


def test_body_limit_stops_a_chunked_body_as_soon_as_it_is_crossed(serve_app: Serve) -> None:
    app = CountingApp()
    server = serve_app(app, limit_request_body=1000)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"200\r\n" + b"x" * 512 + b"\r\n")
        sock.sendall(b"200\r\n" + b"x" * 512 + b"\r\n")  # 1024 > 1000: refused here
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    wait_for(lambda: "http.disconnect" in app.events)


def test_requests_per_connection_limit(serve_app: Serve) -> None:
    server = serve_app(CountingApp(), limit_requests_per_connection=3)
    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    reply, closed = exchange(server.port, request * 5)
    responses, _ = parse_responses(reply, ["GET"] * 3)
    assert len(responses) == 3 and closed
    assert responses[2].header(b"connection") == b"close"
    assert responses[1].header(b"connection") is None


# -- timeouts against slow clients ---------------------------------------------------


def test_incomplete_headers_get_408(serve_app: Serve) -> None:
    server = serve_app(CountingApp(), timeout_request_header=0.5)
    start = time.monotonic()
    reply, closed = exchange(server.port, b"GET / HTTP/1.1\r\nHost: a\r\n", timeout=10)
    assert reply.startswith(b"HTTP/1.1 408 ") and closed
    assert time.monotonic() - start < 8


def test_dribbled_headers_do_not_reset_the_clock(serve_app: Serve) -> None:
    """Slowloris: a byte every 0.1 s keeps the socket busy but the head never completes."""
    server = serve_app(CountingApp(), timeout_request_header=1.0)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        reply = b""
        try:
            for _ in range(200):  # at most 20 s of dribbling
                sock.sendall(b"X-A: b\r\n"[:1])
                time.sleep(0.1)
                sock.setblocking(False)
                try:
                    reply += sock.recv(65536)
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
                if reply:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - start < 8


def test_header_clock_starts_again_for_each_request(serve_app: Serve) -> None:
    server = serve_app(CountingApp(), timeout_request_header=0.5, timeout_keep_alive=30)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        first = read_until(sock, b"ok")
        assert first.startswith(b"HTTP/1.1 200 ")
        time.sleep(1.0)  # idle keep-alive time does not count against the next head
        sock.sendall(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_until(sock, b"ok").startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /3 HTTP/1.1\r\n")  # ... but a half-sent head does
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 408 ")


def test_stalled_body_is_closed_and_the_app_hears_it(serve_app: Serve) -> None:
    app = CountingApp()
    server = serve_app(app, timeout_request_body=0.5)
    reply, closed = exchange(
        server.port,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + b"x" * 10,
        timeout=10,
    )
    assert closed
    assert reply == b"" or reply.startswith(b"HTTP/1.1 408 ")
    wait_for(lambda: "http.disconnect" in app.events)


def test_body_clock_waits_while_the_app_does_not_read(serve_app: Serve) -> None:
    """Not the client's fault: while hurtle holds unread body, the body clock stops."""
    release = threading.Event()
    got: list[int] = []

    app = body_reader_held_until(release, got)
    server = serve_app(app, timeout_request_body=0.3)
    total = 8 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % total)
        sender = threading.Thread(target=lambda: sock.sendall(b"x" * total), daemon=True)
        sender.start()
        time.sleep(1.0)  # more than the body timeout, with the socket paused
        release.set()
        reply = read_until(sock, str(total).encode())
        sender.join(10)
    assert got == [total]
    assert reply.endswith(str(total).encode())


def test_client_that_stops_reading_is_closed(serve_app: Serve) -> None:
    """Slow read: a full write buffer for --timeout-write closes it; send raises."""
    outcome: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(4096):  # 256 MiB at most
                await send({"type": "http.response.body", "body": b"z" * 65536, "more_body": True})
        except OSError as exc:
            outcome.append(type(exc).__name__)
            return
        outcome.append("finished")

    server = serve_app(app, timeout_write=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_for(lambda: bool(outcome), timeout=15)
    assert outcome == ["ClientDisconnected"]


def test_limit_concurrency_503_has_retry_after(serve_app: Serve) -> None:
    release = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while not release.is_set():
            await asyncio.sleep(0.02)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    server = serve_app(app, limit_concurrency=2)
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(httpx.get(server.url, timeout=10).status_code)
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    third = httpx.get(server.url, timeout=10)
    release.set()
    for thread in threads:
        thread.join(10)
    assert third.status_code == 503 and third.headers["retry-after"].isdigit()
    assert results == [200, 200]
