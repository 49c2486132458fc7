"""http.response.trailers end to end (asgiref docs/extensions.rst, "HTTP Trailers").

HTTP/1.1: curl, which sends `TE: trailers` when told to and shows the chunked
trailer section with --raw (RFC 9112 section 7.1.2), and a raw socket for
the client that did not ask for them. HTTP/2: the h2 library as a client
(tests/h2_frames.py), which reports the trailing HEADERS (RFC 9113 section
8.1). gRPC over both (tests/e2e/test_grpc.py) runs on this too.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable

import pytest

from h2_frames import INTERNAL_ERROR, H2Client
from hurtle.asgi.scope import websocket_scope
from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, debian_tool, raw_request

Serve = Callable[..., InProcessServer]

CHECKSUM = [(b"x-checksum", b"c0ffee"), (b"x-parts", b"2")]


async def trailers_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Streams `size` bytes (the query string, default 6) in two parts, then trailers."""
    if scope["type"] != "http":
        return
    size = int(scope["query_string"] or b"6")
    advertised = "http.response.trailers" in scope["extensions"]
    headers = [(b"content-type", b"text/plain"), (b"x-advertised", b"%d" % advertised)]
    if scope["path"] == "/declared":
        headers.append((b"trailer", b"x-checksum, x-parts"))
    await send({"type": "http.response.start", "status": 200, "headers": headers, "trailers": True})
    half = size // 2
    await send({"type": "http.response.body", "body": b"a" * half, "more_body": True})
    await send({"type": "http.response.body", "body": b"b" * (size - half)})
    if scope["path"] == "/forbidden":
        await send({"type": "http.response.trailers", "headers": [(b"content-length", b"1")]})
    await send({"type": "http.response.trailers", "headers": CHECKSUM[:1], "more_trailers": True})
    await send({"type": "http.response.trailers", "headers": CHECKSUM[1:]})


def curl(*args: str) -> bytes:
    command = [debian_tool("curl", "curl"), "--silent", "--show-error", "--max-time", "10"]
    return subprocess.run([*command, *args], capture_output=True, check=True, timeout=15).stdout


def test_http1_trailers_reach_curl_when_it_sends_te_trailers(serve_app: Serve) -> None:
    server = serve_app(trailers_app)
    raw = curl("--raw", "--include", "-H", "TE: trailers", f"{server.url}/declared")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    lines = head.lower().split(b"\r\n")
    assert b"transfer-encoding: chunked" in lines
    assert b"trailer: x-checksum, x-parts" in lines
    assert b"x-advertised: 1" in lines
    assert body == b"3\r\naaa\r\n3\r\nbbb\r\n0\r\nx-checksum: c0ffee\r\nx-parts: 2\r\n\r\n"


def test_http1_trailers_are_dropped_for_a_client_that_did_not_ask(serve_app: Serve) -> None:
    server = serve_app(trailers_app)
    # Two requests on one connection: the framing stays right for the second.
    request = b"GET /?4 HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /?2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    output = raw_request(server.port, request + last)
    first, second = output.split(b"HTTP/1.1 200 ")[1:]
    assert first.endswith(b"\r\n\r\n2\r\naa\r\n2\r\nbb\r\n0\r\n\r\n")
    assert second.endswith(b"\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n")
    assert b"x-checksum" not in output
    # curl without TE: trailers gets the body alone.
    assert curl(f"{server.url}/?6") == b"aaabbb"


def test_http1_trailers_to_http_1_0_and_head_are_dropped(serve_app: Serve) -> None:
    server = serve_app(trailers_app)
    output = raw_request(server.port, b"GET / HTTP/1.0\r\nTE: trailers\r\n\r\n")
    assert output.endswith(b"\r\n\r\naaabbb")  # Delimited by the close (RFC 9112 6.3).
    output = raw_request(
        server.port, b"HEAD / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n"
    )
    assert output.endswith(b"\r\n\r\n") and b"x-checksum" not in output


def test_http2_trailers_end_the_stream_with_a_headers_frame(serve_app: Serve) -> None:
    server = serve_app(trailers_app)
    client = H2Client(server.port)
    try:
        stream_id = client.request(b"/?6")
        status, body = client.wait_response(stream_id)
        assert (status, body) == (200, b"aaabbb")
        assert (b"x-advertised", b"1") in client.headers[stream_id]
        assert client.trailers[stream_id] == CHECKSUM
        head = client.request(b"/", method=b"HEAD")
        assert client.wait_response(head) == (200, b"")
        assert head not in client.trailers  # Ended with the head: no body, no trailers.
    finally:
        client.close()


def test_http2_trailers_wait_for_the_body_the_window_held_back(serve_app: Serve) -> None:
    server = serve_app(trailers_app)
    # A 1000-byte stream window: most of the body waits in the stream, and the
    # trailers must follow it, not overtake it.
    client = H2Client(server.port, settings={0x4: 1000})
    try:
        stream_id = client.request(b"/?100000")
        status, body = client.wait_response(stream_id)
        assert (status, body) == (200, b"a" * 50000 + b"b" * 50000)
        assert client.trailers[stream_id] == CHECKSUM
    finally:
        client.close()


def test_a_forbidden_trailer_field_resets_the_response(
    serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "hurtle.error")
    server = serve_app(trailers_app)
    client = H2Client(server.port)
    try:
        stream_id = client.request(b"/forbidden")
        client.wait(lambda: stream_id in client.reset)
        assert client.reset[stream_id] == INTERNAL_ERROR
        assert stream_id not in client.trailers
    finally:
        client.close()
    # HTTP/1.1: the connection is aborted before the last-chunk, so the
    # truncated body cannot look complete.
    output = raw_request(server.port, b"GET /forbidden HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n")
    assert output.endswith(b"3\r\nbbb\r\n")
    assert "'content-length' is not allowed in trailers" in caplog.text


def test_the_extension_is_not_offered_to_websockets() -> None:
    scope = websocket_scope(
        b"/", "1.1", [], [], None, None, "http", "", {}, {"http.response.trailers": {}}, None
    )
    assert scope["extensions"] == {"websocket.http.response": {}}
