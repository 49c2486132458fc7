"""A file's bytes from the page cache to a cleartext socket: sendfile(2), no copy.

What HTTP/1.1 uses for http.response.pathsend and zerocopysend when the body
has a declared length (asgi/file_body.py). asyncio's `loop.sendfile` would do
it on the default loop only: uvloop has none (it raises NotImplementedError),
so this calls os.sendfile on the socket itself, the same on every loop:

1. the transport's own buffer (the head) drains first, or the file's bytes
   would overtake it: the write limits are dropped to zero, so asyncio
   pauses the protocol until the buffer is empty (the connection's
   --timeout-write clock runs meanwhile, as for any paused write);
2. os.sendfile on a duplicate of the socket's descriptor: a duplicate keeps
   the socket (and its number) ours even if the transport closes its own
   meanwhile, so bytes can never reach a descriptor number reused by
   another connection; the duplicate is also what the loop watches for
   writability when the socket buffer is full (the loop refuses to watch a
   descriptor a transport owns);
3. a client that reads nothing for --timeout-write seconds is cut off, as
   on the ordinary write path (docs/security.md).
"""

from __future__ import annotations

import asyncio
import os
from os import sendfile
from typing import Protocol

from hurtle.logs import describe_client, error_log
from hurtle.net.state import ServerState

__all__ = ["send_unframed"]


class H1Connection(Protocol):
    """What of net/connection.py's H1Connection this module uses (that module imports this)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def state(self) -> ServerState: ...

    @property
    def client(self) -> tuple[str, int] | None: ...

    def flush(self) -> None: ...

    def write_paused(self) -> asyncio.Future[None] | None: ...

    def abort(self) -> None: ...


async def send_unframed(
    connection: H1Connection, transport: asyncio.Transport, fd: int, offset: int, count: int
) -> int:
    """Send `count` bytes of file `fd` from `offset`; the number sent (fewer: the file ended)."""
    await _drained(connection, transport)
    sock = transport.get_extra_info("socket")
    if sock is None or transport.is_closing():
        raise ConnectionResetError("the connection closed before the file was sent")
    out = os.dup(sock.fileno())
    loop = connection.loop
    timeout = connection.state.config.timeout_write
    sent = 0
    try:
        while sent < count:
            if transport.is_closing():
                raise ConnectionResetError("the connection closed while the file was sent")
            try:
                done = sendfile(out, fd, offset + sent, count - sent)
            except BlockingIOError:
                if not await _writable(loop, out, timeout):
                    error_log.info(
                        "closing connection from %s: it read nothing for %.0fs",
                        describe_client(connection.client, "unix socket"),
                        timeout,
                    )
                    connection.abort()
                    raise TimeoutError("the client read nothing of the file") from None
                continue
            if done == 0:
                break  # End of file: it is shorter than it was when opened.
            sent += done
    finally:
        os.close(out)
    return sent


async def _drained(connection: H1Connection, transport: asyncio.Transport) -> None:
    """Wait until the transport has written everything it holds (the response head)."""
    connection.flush()
    if not transport.get_write_buffer_size():
        return
    low, high = transport.get_write_buffer_limits()
    # With both limits at zero the protocol is paused until the buffer is empty.
    transport.set_write_buffer_limits(high=0, low=0)
    deadline = connection.loop.time() + connection.state.config.timeout_write
    try:
        while transport.get_write_buffer_size() and not transport.is_closing():
            waiter = connection.write_paused()
            if waiter is not None:
                await waiter  # The connection's --timeout-write clock runs meanwhile.
            elif connection.loop.time() > deadline:
                connection.abort()
            else:
                await asyncio.sleep(0.001)  # Not paused (yet): look again shortly.
    finally:
        if not transport.is_closing():
            transport.set_write_buffer_limits(high=high, low=low)


async def _writable(loop: asyncio.AbstractEventLoop, fd: int, timeout: float) -> bool:
    """Wait until `fd` can take more; False after `timeout` seconds."""
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await asyncio.wait_for(ready, timeout)
    except TimeoutError:
        return False
    finally:
        loop.remove_writer(fd)
    return True
