"""--reload: while the app cannot be imported, answer 503 with the error, not silence.

Under --reload a worker that fails at start-up is not retried until a file
changes. The supervisor keeps the listening sockets, so without this page a
browser's request would wait in the listen backlog until the fix, which looks
like a hung server. `ErrorPage` accepts on those sockets in a thread of the
supervisor and answers every request with `503 Service Unavailable` (RFC 9110
section 15.6.4) and the error the worker printed, then closes the connection.
The supervisor stops it before it starts the next workers.

Development only: it exists only under --reload, and it shows a traceback,
which a production server must never send to a client. It speaks just enough
HTTP/1.1 to be read by a browser, curl or httpx, and imports nothing of the
serving stack (tests/test_layers.py).
"""

from __future__ import annotations

import selectors
import socket
import threading

__all__ = ["ErrorPage"]

_HEAD_LIMIT = 16384
_READ_TIMEOUT = 1.0


class ErrorPage:
    """Answer 503 with `text` on `sockets` (listening, shared) until stop()."""

    def __init__(self, sockets: list[socket.socket], text: str) -> None:
        self._sockets = sockets
        body = (
            "hurtle --reload: the app could not be started. Fix the error below and save "
            "the file: the next change starts it again.\n\n" + text
        ).encode("utf-8", "replace")
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            "content-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\n"
            "retry-after: 1\r\n"
            "cache-control: no-store\r\n"
            "connection: close\r\n\r\n"
        ).encode("latin-1")
        self._head = head
        self._body = body
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hurtle-error-page", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting; returns once the thread no longer touches the sockets."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            for sock in self._sockets:
                selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    if self._stop.is_set():
                        return
                    listener = key.fileobj
                    assert isinstance(listener, socket.socket)
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue  # Another process took it.
                    except OSError:
                        return  # The socket was closed: the supervisor stops.
                    self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(_READ_TIMEOUT)
                received = b""
                while b"\r\n\r\n" not in received and len(received) < _HEAD_LIMIT:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    received += chunk
                # RFC 9110 section 9.3.2: a response to HEAD has no body.
                body = b"" if received.startswith(b"HEAD ") else self._body
                conn.sendall(self._head + body)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # The client went away or stalled: nothing to tell it.
