"""A request that arrives while the previous response is still open must get its body.

The client has the whole previous response once Content-Length bytes arrived, so it
may send the next request before the app sent its final (empty) body message, as
Django (asgi.py and wsgi.py) does. That request is queued and reading pauses
(RFC 9112 section 9.3.2); when the response ends, reading must resume, or the new
request's body, still in the socket, never reaches its app.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from apps.basic import read_body
from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer


async def late_end(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    reply = b"got " + body
    headers = [(b"content-length", str(len(reply)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": reply, "more_body": True})
    await asyncio.sleep(0.2)  # the client already has the whole body
    await send({"type": "http.response.body", "body": b""})


def read_response(sock: socket.socket, expected: bytes) -> bytes:
    data = b""
    while not data.endswith(expected):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def test_body_of_a_request_sent_before_the_response_ended(
    serve_app: Callable[..., InProcessServer],
) -> None:
    server = serve_app(late_end)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none")
        read_response(sock, b"got one")
        # The next request's head, then (separately) its body, while the first
        # response has not ended on the server side.
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n")
        time.sleep(0.05)
        sock.sendall(b"two")
        assert read_response(sock, b"got two").endswith(b"got two")
