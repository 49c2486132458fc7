"""HTTP/1.1 end to end: a real hurtle, real sockets, on both event loops.

Each test names the rule it checks: RFC 9112 (HTTP/1.1), RFC 9110 (HTTP
semantics) or the ASGI HTTP spec (asgiref specs/www.rst).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from apps.basic import app as basic_app
from apps.basic import body_reader_held_until, read_body
from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, parse_responses, raw_request, read_to_eof, read_until, wait_for

Serve = Callable[..., InProcessServer]


def get_json(url: str, **kwargs: Any) -> Any:
    response = httpx.get(url, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


# -- the scope ----------------------------------------------------------------


def test_scope_is_complete(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    with httpx.Client() as client:
        scope = client.get(
            server.url + "/scope",
            params={"q": "a b"},
            headers=[("X-Dup", "1"), ("X-Dup", "2"), ("X-Case", "Value")],
        ).json()
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.5"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/scope"
    assert scope["raw_path"] == "/scope"
    assert scope["query_string"] == "q=a+b"
    assert scope["root_path"] == ""
    headers = scope["headers"]
    # ASGI: names lower-cased, order and duplicates kept.
    assert ["x-dup", "1"] in headers and ["x-dup", "2"] in headers
    assert headers.index(["x-dup", "1"]) < headers.index(["x-dup", "2"])
    assert ["x-case", "Value"] in headers
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert scope["server"] == ["127.0.0.1", server.port]
    assert scope["state"] == {"greeting": "hello from lifespan"}


def test_path_is_percent_decoded_utf8(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    reply = raw_request(
        server.port,
        b"GET /scope/caf%C3%A9%20x?y=%20 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    (response,), _ = parse_responses(reply, ["GET"])
    scope = json.loads(response.body)
    # ASGI www.rst: path is percent-decoded and read as UTF-8; raw_path and
    # query_string are the bytes as received.
    assert scope["path"] == "/scope/café x"
    assert scope["raw_path"] == "/scope/caf%C3%A9%20x"
    assert scope["query_string"] == "y=%20"


def test_absolute_form_target(serve_app: Serve) -> None:
    """RFC 9112 section 3.2.2: a server MUST accept the absolute form of the target, and
    an origin server MUST ignore the Host header and use the target's authority."""
    server = serve_app(basic_app)
    reply = raw_request(
        server.port,
        b"GET http://example.com:8080/scope?x=1 HTTP/1.1\r\nHost: evil.example\r\n"
        b"Connection: close\r\n\r\n",
    )
    (response,), _ = parse_responses(reply, ["GET"])
    scope = json.loads(response.body)
    assert scope["path"] == "/scope" and scope["query_string"] == "x=1"
    assert ["host", "example.com:8080"] in scope["headers"]
    assert ["host", "evil.example"] not in scope["headers"]


def test_root_path_prefixes_path(serve_app: Serve) -> None:
    server = serve_app(basic_app, root_path="/api")
    scope = get_json(server.url + "/scope")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/scope"
    assert scope["raw_path"] == "/api/scope"


def test_lifespan_state_is_a_copy_per_request(serve_app: Serve) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            scope["state"]["count"] = 0
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scope["state"]["count"] += 1
        scope["state"]["new"] = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(scope["state"]["count"]).encode()})
        del message

    server = serve_app(app)
    with httpx.Client() as client:
        assert [client.get(server.url).text for _ in range(3)] == ["1", "1", "1"]


# -- request bodies ---------------------------------------------------------------


def test_request_body_is_streamed_in_pieces(serve_app: Serve) -> None:
    """ASGI: http.request messages arrive as the body does, never buffered whole."""
    seen: list[tuple[int, bool]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            seen.append((len(message["body"]), message["more_body"]))
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"%d" % sum(n for n, _ in seen)})

    server = serve_app(app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello")
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [(5, True)]  # The first half reached the app on its own.
        sock.sendall(b"world")
        (response,), _ = parse_responses(read_until(sock, b"10"), ["POST"])
    assert response.body == b"10"
    assert seen[-1] == (5, False) or seen[-1] == (0, False)
    assert sum(n for n, _ in seen) == 10


def test_chunked_request_body(serve_app: Serve) -> None:
    """RFC 9112 section 7.1: chunked coding is removed before the app sees the body."""
    server = serve_app(basic_app)
    reply = raw_request(
        server.port,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    )
    (response,), _ = parse_responses(reply, ["POST"])
    assert response.body == b"hello world"


def test_large_body_round_trip(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    payload = bytes(range(256)) * 8192  # 2 MiB
    response = httpx.post(server.url + "/echo", content=payload, timeout=20)
    assert response.content == payload


def test_reading_pauses_while_the_app_does_not_read(serve_app: Serve) -> None:
    """Backpressure towards the client: unread body is not buffered without bound."""
    release = threading.Event()
    received: list[int] = []

    app = body_reader_held_until(release, received)
    server = serve_app(app)
    total = 64 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % total)
        sock.setblocking(False)
        block = b"x" * 65536
        sent = 0
        quiet_since = time.monotonic()
        while sent < total and time.monotonic() - quiet_since < 1.0:
            try:
                sent += sock.send(block[: total - sent])
                quiet_since = time.monotonic()
            except BlockingIOError:
                time.sleep(0.01)
        # The kernel's socket buffers hold a few MiB; hurtle holds ~64 KiB.
        assert sent < total // 2, f"{sent} bytes were accepted while the app read nothing"
        release.set()
        sock.setblocking(True)
        sock.sendall(block * ((total - sent) // len(block)) + block[: (total - sent) % len(block)])
        reply = read_until(sock, str(total).encode())
    assert received == [total]
    assert reply.endswith(str(total).encode())


# -- responses ------------------------------------------------------------------


def test_streamed_response_uses_chunked_coding(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    reply = raw_request(
        server.port, b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"7\r\nchunk0\n\r\n7\r\nchunk1\n\r\n7\r\nchunk2\n\r\n0\r\n\r\n"


# Pieces below and above the size that is written without copying (16 KiB), and
# more in one turn of the loop than one coalesced write takes (512 KiB).
_PIECE_SIZES = [1, 20_000, 5, 300_000, 0, 70_000, 16_384, 3, 600_000, 7]


def _pieces() -> list[bytes]:
    return [bytes([65 + index % 26]) * size for index, size in enumerate(_PIECE_SIZES)]


async def _pieces_app(scope: Scope, receive: Receive, send: Send) -> None:
    pieces = _pieces()
    headers = []
    if scope["path"] == "/declared":
        headers.append((b"content-length", b"%d" % sum(map(len, pieces))))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for piece in pieces:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_large_and_small_pieces_are_framed_exactly(serve_app: Serve) -> None:
    """RFC 9112 section 7.1: every piece its own chunk, whatever its size; then last-chunk."""
    server = serve_app(_pieces_app)
    reply = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    expected = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in _pieces() if piece)
    assert body == expected + b"0\r\n\r\n"


def test_large_pieces_with_content_length_keep_the_connection(serve_app: Serve) -> None:
    server = serve_app(_pieces_app)
    with httpx.Client() as client:
        for _ in range(3):  # Keep-alive: each response must end exactly where declared.
            response = client.get(server.url + "/declared")
            assert response.content == b"".join(_pieces())
            assert response.headers["content-length"] == str(sum(_PIECE_SIZES))


def test_single_body_gets_content_length(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    response = httpx.get(server.url + "/")
    assert response.headers["content-length"] == "13"
    assert "transfer-encoding" not in response.headers


def test_http10_streamed_response_is_close_delimited(serve_app: Serve) -> None:
    """RFC 9112 section 6.3: without chunked coding, a 1.0 body ends at close."""
    server = serve_app(basic_app)
    reply = raw_request(server.port, b"GET /stream HTTP/1.0\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower()
    assert body == b"chunk0\nchunk1\nchunk2\n"


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(serve_app: Serve, status: int) -> None:
    """RFC 9110 sections 15.3.5 and 15.4.5: 204 and 304 carry no content."""
    server = serve_app(basic_app)
    reply = raw_request(
        server.port,
        b"GET /status?%d HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        % status,
    )
    (first, second), _ = parse_responses(reply, ["GET", "GET"])
    assert first.status == status and first.body == b""
    if status == 204:
        assert first.header(b"content-length") is None
    assert second.body == b"Hello, world!"


def test_head_response_has_headers_but_no_body(serve_app: Serve) -> None:
    """RFC 9110 section 9.3.2: HEAD gets the GET headers and no content."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
        )
        await send({"type": "http.response.body", "body": b"hello"})

    server = serve_app(app)
    reply = raw_request(
        server.port,
        b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    (head, get), rest = parse_responses(reply, ["HEAD", "GET"])
    assert head.header(b"content-length") == b"5" and head.body == b""
    assert get.body == b"hello" and rest == b""


def test_date_and_server_headers(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    response = httpx.get(server.url)
    assert response.headers["server"] == "hurtle"
    assert response.headers["date"].endswith(" GMT")
    plain = serve_app(basic_app, server_header=False, date_header=False, header=["X-Team: blue"])
    response = httpx.get(plain.url)
    assert "server" not in response.headers and "date" not in response.headers
    assert response.headers["x-team"] == "blue"


def test_app_header_overrides_default_header(serve_app: Serve) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"server", b"custom"), (b"x-team", b"red")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    server = serve_app(app, header=["X-Team: blue"])
    response = httpx.get(server.url)
    assert response.headers.get_list("server") == ["custom"]
    assert response.headers.get_list("x-team") == ["red"]


# -- connection management ------------------------------------------------------


def test_keep_alive_serves_several_requests(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            (response,), rest = parse_responses(read_until(sock, b"Hello, world!"), ["GET"])
            assert response.status == 200 and rest == b""


def test_pipelined_responses_come_in_order(serve_app: Serve) -> None:
    """RFC 9112 section 9.3.2: responses to pipelined requests keep the request order."""
    order: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        order.append("start " + scope["path"])
        if scope["path"] == "/slow":
            await asyncio.sleep(0.3)
        order.append("end " + scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    server = serve_app(app)
    reply = raw_request(
        server.port,
        b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /fast HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    responses, rest = parse_responses(reply, ["GET", "POST", "GET"])
    assert [r.body for r in responses] == [b"/slow", b"/fast", b"/last"]
    # A pipelined request waits until the previous response is done.
    assert order == [
        "start /slow",
        "end /slow",
        "start /fast",
        "end /fast",
        "start /last",
        "end /last",
    ]
    assert rest == b""


def test_connection_close_is_honoured(serve_app: Serve) -> None:
    """RFC 9112 section 9.6: after `Connection: close` the server closes."""
    server = serve_app(basic_app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = read_to_eof(sock)
    (response,), _ = parse_responses(data, ["GET"])
    assert response.header(b"connection") == b"close"


def test_http10_request_gets_an_http11_response(serve_app: Serve) -> None:
    """RFC 9112 section 2.3: a server SHOULD answer with the highest version it conforms
    to whose major version is not above the request's: HTTP/1.1, for 1.0 requests too,
    framed so that a 1.0 client reads it (no chunked coding: RFC 9112 section 6.1)."""
    server = serve_app(basic_app)
    for target in (b"/", b"/stream"):
        reply = raw_request(server.port, b"GET " + target + b" HTTP/1.0\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply
        assert b"transfer-encoding" not in reply.partition(b"\r\n\r\n")[0].lower()


def test_unread_request_body_is_read_past_before_the_next_request(serve_app: Serve) -> None:
    """RFC 9112 section 9.3: a server MUST read the entire request body or close the
    connection after its response; otherwise the rest of the body would be read as the
    next request. An app that answers without reading: the body, sent after the
    response, is dropped, and the next request is the one that follows it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    server = serve_app(app)
    inner = b"GET /inner HTTP/1.1\r\nHost: a\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(inner))
        (first,), _ = parse_responses(read_until(sock, b"/first"), ["POST"])
        sock.sendall(inner + b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        responses, rest = parse_responses(read_to_eof(sock), ["GET"])
    assert first.body == b"/first"
    assert [r.body for r in responses] == [b"/last"] and rest == b""


def test_http10_client_never_gets_100_continue(serve_app: Serve) -> None:
    """RFC 9110 section 15.2: a server MUST NOT send a 1xx response to an HTTP/1.0 client;
    section 10.1.1: it MUST ignore a 100-continue expectation in an HTTP/1.0 request."""
    server = serve_app(basic_app)
    reply = raw_request(
        server.port,
        b"POST /echo HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\ndata",
    )
    assert reply.startswith(b"HTTP/1.1 200 "), reply
    assert reply.endswith(b"\r\n\r\ndata")
    assert b" 100 " not in reply


def test_2xx_to_connect_has_no_framing_headers(serve_app: Serve) -> None:
    """RFC 9110 section 8.6 and RFC 9112 section 6.1: no Content-Length or Transfer-Encoding
    in a 2xx response to CONNECT. hurtle relays no tunnel: the app's bytes go out as they
    are, then the connection closes, and nothing the client sends after is read as HTTP."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"tunnel bytes"})

    server = serve_app(app)
    reply = raw_request(
        server.port,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower()
    assert body == b"tunnel bytes"


def test_http10_keep_alive_semantics(serve_app: Serve) -> None:
    """RFC 9112 section 9.3: 1.0 closes by default, stays open with keep-alive."""
    server = serve_app(basic_app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = read_to_eof(sock)  # Closed by the server.
    assert data.endswith(b"Hello, world!")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            data = read_until(sock, b"Hello, world!")
            assert b"connection: keep-alive" in data.lower()


def test_idle_keep_alive_connection_is_closed(serve_app: Serve) -> None:
    server = serve_app(basic_app, timeout_keep_alive=0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        data = read_to_eof(sock)
    assert data.endswith(b"Hello, world!")


def test_keep_alive_timeout_counts_from_the_last_response(serve_app: Serve) -> None:
    """RFC 9112 section 9.3: a connection in use is not closed for the idle time before."""
    server = serve_app(basic_app, timeout_keep_alive=1.0)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        for pause in (0.0, 0.7, 0.7):  # 1.4 s in all: past one timeout from the first.
            time.sleep(pause)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert read_until(sock, b"Hello, world!").endswith(b"Hello, world!")
        last = time.monotonic()
        assert last - started >= 1.4
        assert sock.recv(1) == b""  # Then idle for the timeout: closed by the server.
        idle = time.monotonic() - last
    assert 0.9 <= idle < 3.0


def test_expect_100_continue_only_when_the_app_reads(serve_app: Serve) -> None:
    """RFC 9110 section 10.1.1: 100 Continue is sent when the app wants the body."""
    server = serve_app(basic_app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = read_until(sock, b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"data")
        (response,), _ = parse_responses(read_until(sock, b"data"), ["POST"])
        assert response.body == b"data"

    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 417, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    other = serve_app(refuse)
    reply = raw_request(
        other.port,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        timeout=1.0,
    )
    assert reply.startswith(b"HTTP/1.1 417 ")
    assert b"100 Continue" not in reply


# -- disconnects -----------------------------------------------------------------


def test_disconnect_reaches_a_waiting_app(serve_app: Serve) -> None:
    """ASGI: http.disconnect when the client goes away."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        message = await receive()  # Blocks until the client disconnects.
        events.append(message["type"])

    server = serve_app(app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.2)
    wait_for(lambda: events == ["http.disconnect"])


def test_client_eof_is_a_disconnect_without_a_loop_error(
    serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """A FIN from the client while its app waits: http.disconnect, and the event loop
    logs no protocol failure (asyncio calls eof_received by name; H1Connection, compiled,
    does not inherit asyncio.Protocol's default and lacked it)."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        message = await receive()
        events.append(message["type"])

    server = serve_app(app)
    with caplog.at_level("DEBUG"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.1)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(1024) == b""  # The server closed its side too.
        wait_for(lambda: events == ["http.disconnect"])
    assert "eof_received" not in caplog.text
    assert "Fatal error" not in caplog.text


def test_send_after_disconnect_raises_oserror(serve_app: Serve) -> None:
    """ASGI spec 2.4: send() on a closed connection raises an OSError subclass."""
    outcome: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(1000):
                await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
                await asyncio.sleep(0.01)
        except OSError as exc:
            outcome.append(type(exc).__name__)
            raise
        outcome.append("never disconnected")

    server = serve_app(app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.recv(100)
    wait_for(lambda: outcome == ["ClientDisconnected"])


def test_slow_reader_makes_send_wait(serve_app: Serve) -> None:
    """Backpressure towards the app: send() waits while the client does not read."""
    sent = [0]
    total_chunks = 2048  # 128 MiB in 64 KiB chunks

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"y" * 65536
        for _ in range(total_chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent[0] += 1
        await send({"type": "http.response.body", "body": b""})

    server = serve_app(app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        wait_for(lambda: sent[0] > 0)
        time.sleep(0.5)
        stalled_at = sent[0]
        assert stalled_at < total_chunks // 4, (
            f"app sent {stalled_at} chunks to a client that reads nothing"
        )
        data = read_to_eof(sock)
    assert sent[0] == total_chunks
    assert data.endswith(b"0\r\n\r\n")


# -- app errors ------------------------------------------------------------------


def test_exception_before_response_is_500(
    serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve_app(basic_app)
    with caplog.at_level("ERROR", logger="hurtle.error"):
        response = httpx.get(server.url + "/error")
        wait_for(lambda: "Exception in ASGI app" in caplog.text)
    assert response.status_code == 500
    assert response.text == "Internal Server Error\n"
    assert "RuntimeError: boom" in caplog.text  # The traceback is logged.


def test_exception_after_response_start_closes_connection(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    reply = raw_request(server.port, b"GET /error-after-start HTTP/1.1\r\nHost: a\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    # Closed without the last chunk: the client can tell the body is cut short.
    assert body == b"7\r\npartial\r\n"


def test_app_returning_without_response_is_500(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    assert httpx.get(server.url + "/no-response").status_code == 500


@pytest.mark.parametrize(
    ("start", "body", "problem"),
    [
        ({"status": "200"}, b"x", "status must be an int"),
        ({"status": 99}, b"x", "status must be an int"),
        ({"status": 103}, b"x", "informational, not a final response"),
        (
            {"status": 200, "headers": [(b"x-bad", b"a\r\nset-cookie: evil=1")]},
            b"x",
            "CR, LF or NUL",
        ),
        ({"status": 200, "headers": [(b"x-nul", b"a\x00b")]}, b"x", "CR, LF or NUL"),
        ({"status": 200, "headers": [(b"bad name", b"v")]}, b"x", "not a valid HTTP token"),
        ({"status": 200, "headers": [("x-str", "v")]}, b"x", "must be bytes"),
        ({"status": 200}, "text body", "body must be bytes"),
    ],
)
def test_invalid_app_messages_never_reach_the_wire(
    serve_app: Serve,
    caplog: pytest.LogCaptureFixture,
    start: dict[str, Any],
    body: Any,
    problem: str,
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", **start})
        await send({"type": "http.response.body", "body": body})

    server = serve_app(app)
    with caplog.at_level("ERROR", logger="hurtle.error"):
        reply = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        wait_for(lambda: problem in caplog.text)
    (response,), _ = parse_responses(reply, ["GET"])
    assert response.status == 500
    assert b"evil" not in reply and b"\x00" not in reply
    assert "invalid response" in caplog.text


def test_unknown_message_type_is_500(serve_app: Serve) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.strat", "status": 200})

    server = serve_app(app)
    assert httpx.get(server.url).status_code == 500


@pytest.mark.parametrize(("declared", "sent"), [(5, b"toolongbody"), (20, b"short")])
def test_body_not_matching_content_length_closes(
    serve_app: Serve, caplog: pytest.LogCaptureFixture, declared: int, sent: bytes
) -> None:
    """RFC 9110 section 8.6: never more than the declared length; short bodies close."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", str(declared).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": sent})

    server = serve_app(app)
    with caplog.at_level("ERROR", logger="hurtle.error"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            data = read_to_eof(sock)
        wait_for(lambda: "content-length" in caplog.text)
    body = data.partition(b"\r\n\r\n")[2]
    assert body == sent[:declared]


def test_malformed_request_gets_400_and_close(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        data = read_to_eof(sock)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.count(b"HTTP/1.1") == 1  # Nothing after the bad request was served.


def test_oversized_headers_get_431(serve_app: Serve) -> None:
    server = serve_app(basic_app)
    big = b"X-Big: " + b"a" * 20000 + b"\r\n"
    reply = raw_request(server.port, b"GET / HTTP/1.1\r\nHost: a\r\n" + big + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_limit_concurrency_answers_503(serve_app: Serve) -> None:
    server = serve_app(basic_app, limit_concurrency=1)
    slow = threading.Thread(target=lambda: httpx.get(server.url + "/slow?1", timeout=10))
    slow.start()
    try:
        time.sleep(0.3)
        response = httpx.get(server.url + "/")
        assert response.status_code == 503
        assert response.headers["retry-after"].isdigit()
    finally:
        slow.join(10)
    assert httpx.get(server.url + "/").status_code == 200


# -- real frameworks --------------------------------------------------------------


def test_starlette_and_fastapi(serve_app: Serve) -> None:
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        body = await request.body()
        return PlainTextResponse(f"hello {request.path_params['name']} {len(body)}")

    async def numbers(request: Request) -> StreamingResponse:
        async def gen() -> Any:
            for i in range(3):
                yield f"{i},"

        return StreamingResponse(gen())

    starlette_app = Starlette(
        routes=[Route("/hello/{name}", hello, methods=["GET", "POST"]), Route("/numbers", numbers)]
    )
    fastapi_app = FastAPI()

    @fastapi_app.get("/items/{item_id}")
    async def item(item_id: int, q: str | None = None) -> dict[str, Any]:
        return {"item_id": item_id, "q": q}

    @fastapi_app.post("/items")
    async def create(payload: dict[str, Any]) -> dict[str, Any]:
        return {"received": payload}

    first = serve_app(starlette_app)
    assert httpx.post(first.url + "/hello/world", content=b"abc").text == "hello world 3"
    assert httpx.get(first.url + "/numbers").text == "0,1,2,"
    assert httpx.get(first.url + "/missing").status_code == 404
    second = serve_app(fastapi_app)
    assert httpx.get(second.url + "/items/5", params={"q": "x"}).json() == {"item_id": 5, "q": "x"}
    assert httpx.post(second.url + "/items", json={"a": 1}).json() == {"received": {"a": 1}}
    assert httpx.get(second.url + "/items/notanint").status_code == 422


def test_a_long_pipeline_is_served_in_order(serve_app: Serve) -> None:
    """RFC 9112 section 9.3.2: 2,000 pipelined requests in a few reads, all answered in order
    (also with eager task start, where the app may answer while the read is parsed)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].endswith("0"):
            await asyncio.sleep(0)  # Every tenth request suspends once.
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    server = serve_app(app)
    count = 2000
    stream = b"".join(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i for i in range(count))
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(stream + b"GET /end HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = read_to_eof(sock, timeout=20)
    responses, _ = parse_responses(data, ["GET"] * (count + 1))
    assert [r.body for r in responses] == [b"/%d" % i for i in range(count)] + [b"/end"]
