"""The http.response.early_hint extension (asgiref docs/extensions.rst): `103 Early
Hints` (RFC 8297) on HTTP/1.1 and HTTP/2, never to an HTTP/1.0 client (RFC 9110
section 15.2), over real sockets with curl, raw sockets and the h2 library."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from h2_frames import H2Client
from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, read_to_eof, read_until

Serve = Callable[..., InProcessServer]

STYLE = b"</style.css>; rel=preload; as=style"
SCRIPT = b"</app.js>; rel=preload; as=script"


async def hinting_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Two early hints (the first with two links), then the response, which names
    the extensions the scope advertised."""
    assert scope["type"] == "http"
    await send({"type": "http.response.early_hint", "links": [STYLE, SCRIPT]})
    await send({"type": "http.response.early_hint", "links": [b"</font.woff2>; rel=preload"]})
    body = json.dumps(sorted(scope["extensions"])).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_http11_client_gets_each_hint_as_a_103_before_the_response(serve_app: Serve) -> None:
    """RFC 8297 section 2: one Link field line per link, each hint its own 103; the
    final response follows on the same connection, which stays usable."""
    server = serve_app(hinting_app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = read_until(sock, b"]")
            first, second, final = data.split(b"\r\n\r\n", 2)
            assert first.split(b"\r\n") == [
                b"HTTP/1.1 103 Early Hints",
                b"link: " + STYLE,
                b"link: " + SCRIPT,
            ]
            assert second.split(b"\r\n") == [
                b"HTTP/1.1 103 Early Hints",
                b"link: </font.woff2>; rel=preload",
            ]
            assert final.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b'"http.response.early_hint"' in final


def test_http10_client_never_gets_a_103(serve_app: Serve) -> None:
    """RFC 9110 section 15.2: no 1xx to an HTTP/1.0 client; the hints are dropped."""
    server = serve_app(hinting_app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n"), reply
    assert b" 103 " not in reply and b"link:" not in reply


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("flag", ["--http1.1", "--http2-prior-knowledge"])
def test_curl_shows_the_103_then_the_response(serve_app: Serve, flag: str) -> None:
    server = serve_app(hinting_app)
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--include", flag, f"http://127.0.0.1:{server.port}/"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    lines = [line.lower() for line in result.stdout.splitlines()]
    heads = [i for i, line in enumerate(lines) if line.startswith("http/")]
    assert [lines[i].split()[1] for i in heads] == ["103", "103", "200"], result.stdout
    assert lines[heads[0] + 1 : heads[0] + 3] == [
        "link: </style.css>; rel=preload; as=style",
        "link: </app.js>; rel=preload; as=script",
    ]


def test_http2_hints_are_interim_headers_frames(serve_app: Serve) -> None:
    """RFC 9113 section 8.1: each hint is a HEADERS frame with :status 103 and no
    END_STREAM, before the final HEADERS of the same stream."""
    server = serve_app(hinting_app)
    client = H2Client(server.port)
    try:
        stream_id = client.request(b"/")
        status, body = client.wait_response(stream_id)
    finally:
        client.close()
    assert status == 200
    assert "http.response.early_hint" in json.loads(body)
    assert client.interim[stream_id] == [
        [(b":status", b"103"), (b"link", STYLE), (b"link", SCRIPT)],
        [(b":status", b"103"), (b"link", b"</font.woff2>; rel=preload")],
    ]


def _app_sending(*messages: dict[str, Any]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    return app


@pytest.mark.parametrize(
    "links",
    [b"</a>; rel=preload", [b"</a>\r\nx-injected: 1"], ["</a>; rel=preload"], None],
    ids=["not-a-list", "crlf", "str", "missing"],
)
def test_invalid_links_are_an_app_error(serve_app: Serve, links: object) -> None:
    """Links are checked like header values (RFC 9110 section 5.5): a bad hint raises in
    the app's send, and, as nothing went out yet, the client gets hurtle's 500."""
    server = serve_app(_app_sending({"type": "http.response.early_hint", "links": links}))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 500 "), reply
    assert b"x-injected" not in reply and b" 103 " not in reply


def test_a_hint_after_the_start_is_an_app_error(serve_app: Serve) -> None:
    """extensions.rst: hints come before http.response.start; one after it raises in
    the app (the held head then becomes hurtle's 500, nothing having been written)."""
    server = serve_app(
        _app_sending(
            {"type": "http.response.start", "status": 200, "headers": []},
            {"type": "http.response.early_hint", "links": [STYLE]},
        )
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 500 "), reply
    assert b" 103 " not in reply
