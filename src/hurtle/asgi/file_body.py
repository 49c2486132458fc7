"""A response body sent from a file: http.response.pathsend and http.response.zerocopysend.

asgiref docs/extensions.rst defines both: `pathsend` names a file by its
absolute path and ends the body with it; `zerocopysend` hands over an open
file, with an optional `offset` and `count`, and may be followed by more body
(`more_body`). The message is checked and the file opened in the app's
`send` (synchronously, so a file that vanished or cannot be read raises
there, before any of the response went out: the app then fails and the
client gets hurtle's 500). Then one task sends it and the app's `send`
waits for it:

- the stream sends it without copying when it can (`ResponseStream.send_file`:
  HTTP/1.1 on a cleartext socket, a body of declared length: the kernel's
  sendfile(2));
- else it is read in pieces that go through the ordinary body path, which
  frames them (chunked, DATA frames within HTTP/2 flow control) and pauses
  on backpressure.

Either way, a file that changed size while it is sent never desynchronises
the framing: at most `count` bytes (the size when the file was opened) are
sent, the body path cuts what exceeds a declared Content-Length, and a body
shorter than declared aborts the connection (resets the stream) instead of
looking complete.

Interpreted: a coroutine (asgi/http_core.py says why compiled modules define none).
"""

from __future__ import annotations

import asyncio
import io
import os
from typing import Any, Protocol

from hurtle.asgi.types import ClientDisconnected, Message
from hurtle.wire.headers import InvalidResponse

__all__ = ["PIECE", "start_file_body"]

# The size of each piece read when the file cannot go without copying: the
# size the HTTP/1.1 connection writes apart from its framing in one go.
PIECE = 262144


class _FileStream(Protocol):
    def send_file(self, fd: int, offset: int, count: int) -> asyncio.Future[int] | None: ...


class _Cycle(Protocol):
    """What of the request cycle (asgi/http_core.py: _Cycle) this module uses.

    A protocol, not an import: http_core imports this module.
    """

    @property
    def connection(self) -> _FileStream: ...

    @property
    def disconnected(self) -> bool: ...

    @property
    def response_complete(self) -> bool: ...

    app_body_bytes: int

    def _accept(self, message: Message) -> asyncio.Future[None] | None: ...


class _FileBody:
    """The file, the range of it to send, and whether more body follows."""

    __slots__ = ("fd", "file", "more_body", "offset", "owned", "size")

    def __init__(self, file: Any, offset: int, size: int, more_body: bool, owned: bool) -> None:
        self.file = file
        self.fd: int = file.fileno()
        self.offset = offset
        self.size = size
        self.more_body = more_body
        self.owned = owned  # Opened here (pathsend): closed here.

    def close(self) -> None:
        if self.owned:
            self.file.close()


def start_file_body(cycle: _Cycle, message: Message) -> asyncio.Future[None]:
    """Check the message, open the file, and start sending it; the task to wait on."""
    body = _open(message)
    try:
        return asyncio.ensure_future(_send(cycle, body))
    except BaseException:
        body.close()
        raise


def _open(message: Message) -> _FileBody:
    if message["type"] == "http.response.pathsend":
        path = message.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            raise InvalidResponse(f"pathsend needs an absolute path (a str), got {path!r}")
        file = open(path, "rb")  # noqa: SIM115 (closed when sent, _FileBody.close)
        try:
            size = os.fstat(file.fileno()).st_size
        except BaseException:
            file.close()
            raise
        return _FileBody(file, 0, size, False, True)
    given: Any = message.get("file")
    try:
        fd = given.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        raise InvalidResponse(
            f"zerocopysend needs a file with a descriptor, got {file!r}"
        ) from None
    offset = message.get("offset")
    count = message.get("count")
    for name, value in (("offset", offset), ("count", count)):
        if value is not None and (type(value) is not int or value < 0):
            raise InvalidResponse(f"zerocopysend {name} must be an int >= 0 or None, got {value!r}")
    if offset is None:
        # extensions.rst: without an offset, from the file's current position.
        offset = os.lseek(fd, 0, os.SEEK_CUR)
    available = max(0, os.fstat(fd).st_size - offset)
    size = available if count is None else min(count, available)
    return _FileBody(given, offset, size, bool(message.get("more_body", False)), False)


async def _send(cycle: _Cycle, body: _FileBody) -> None:
    try:
        position = body.offset
        left = body.size
        if left:
            # The head goes first (when it was held) with no body yet: with a
            # declared length the stream may then send the file unframed.
            await _piece(cycle, b"", True)
            sent = cycle.connection.send_file(body.fd, position, left)
            if sent is not None:
                done = await sent
                cycle.app_body_bytes += done  # The access log's size.
                position += done
                left -= done
                if left:
                    # The file shrank while sent: the body cannot be completed.
                    raise OSError(f"file ended {left} bytes early")
        while left:
            data = os.pread(body.fd, min(left, PIECE), position)
            if not data:
                break  # The file shrank: the framing (or the last piece) says so.
            position += len(data)
            left -= len(data)
            await _piece(cycle, data, True)
        if not body.more_body:
            await _piece(cycle, b"", False)
    finally:
        body.close()


async def _piece(cycle: _Cycle, data: bytes, more_body: bool) -> None:
    paused = cycle._accept({"type": "http.response.body", "body": data, "more_body": more_body})
    if paused is not None:
        await paused
        if cycle.disconnected and not cycle.response_complete:
            raise ClientDisconnected("the client disconnected")
