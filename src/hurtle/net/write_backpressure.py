"""Write backpressure towards the app, shared by every protocol (HTTP/1.1, WebSocket).

asyncio calls `pause_writing` when a transport's write buffer passes its
high-water mark and `resume_writing` when it drains below the low one. In
between, `write_paused()` hands the app's `send` one future to wait on, so
an app that produces faster than its client reads waits instead of filling
memory. Without a pause, `send` waits for nothing: no lock, no drain call.
"""

from __future__ import annotations

import asyncio

from mypy_extensions import mypyc_attr

__all__ = ["WriteBackpressure"]


# setup.py compiles this module (H1Connection, compiled, inherits it);
# WebSocketConnection, interpreted, inherits it too, which mypyc allows only
# when told.
@mypyc_attr(allow_interpreted_subclasses=True)
class WriteBackpressure:
    """Mixed into an asyncio.Protocol that has `self.loop`."""

    loop: asyncio.AbstractEventLoop
    _write_waiter: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        if self._write_waiter is None or self._write_waiter.done():
            self._write_waiter = self.loop.create_future()
        self._writing_paused()

    def resume_writing(self) -> None:
        self._writing_resumed()
        self._release_writer()

    def write_paused(self) -> asyncio.Future[None] | None:
        """The future to wait on while writing is paused, else None."""
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            return waiter
        return None

    def _release_writer(self) -> None:
        """Wake a waiting `send` (writing resumed, or the connection is gone)."""
        waiter = self._write_waiter
        self._write_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _writing_paused(self) -> None:
        """Hook: the write buffer is full."""

    def _writing_resumed(self) -> None:
        """Hook: the write buffer drained."""
