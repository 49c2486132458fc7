"""The drain of a worker being replaced (Server.shutdown(linger=True)), in-process.

A plain graceful shutdown closes idle keep-alive connections at once
(tests/e2e/test_shutdown.py). A lingering one must not: a client may be
sending on such a connection at that very moment. Its next request is
answered, with `connection: close`; an unused one closes at its keep-alive
timeout.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable

from apps.basic import app
from support import InProcessServer

REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


def read_head_and_body(sock: socket.socket) -> bytes:
    """One response to GET / (the app sends a Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        # The probe reached the listen queue as the listening socket closed:
        # the kernel resets it. Not accepting either.
        return True
    return False


def test_lingering_drain_answers_the_next_request_on_an_idle_connection(
    serve_app: Callable[..., InProcessServer],
) -> None:
    server = serve_app(app, timeout_keep_alive=2.5)
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as used,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as unused,
    ):
        used.sendall(REQUEST)
        assert b"connection: close" not in read_head_and_body(used).lower()
        unused.sendall(REQUEST)
        read_head_and_body(unused)
        loop = server._loop
        assert loop is not None
        loop.call_soon_threadsafe(functools.partial(server.server.shutdown, linger=True))
        deadline = time.monotonic() + 10
        while not refuses(server.port):  # It stops accepting at once...
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # ...but the idle connection still takes a request, answered with close.
        used.sendall(REQUEST)
        head = read_head_and_body(used)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"connection: close" in head.lower()
        assert used.recv(65536) == b""
        # The unused one is still open (no EOF waiting to be read) ...
        unused.setblocking(False)
        try:
            unused.recv(1, socket.MSG_PEEK)
            raise AssertionError("the idle connection was closed at once")
        except BlockingIOError:
            pass
        # ... until its keep-alive timeout closes it.
        unused.setblocking(True)
        assert unused.recv(65536) == b""
