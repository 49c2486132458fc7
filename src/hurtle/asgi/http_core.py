"""The synchronous half of the ASGI HTTP request cycle: state, checks, message building.

asgi/http.py explains the cycle. Its three coroutines (`receive`, `send`,
`run`) are thin: each calls into this class for everything that does not
await. This module is compiled by setup.py (mypyc) and the coroutines are
not, because a compiled coroutine that is cancelled while it awaits passes
the cancellation on with the (type, value, traceback) form of throw(),
deprecated since Python 3.12 (mypyc issue 1214): every app task cancelled by
a timeout, a cancel scope or a shutdown would print a DeprecationWarning.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Any, Protocol

from mypy_extensions import mypyc_attr

from hurtle.asgi.types import ClientDisconnected, Message, Scope
from hurtle.asgi.wake import Wakeable
from hurtle.logs import error_log, log_access
from hurtle.wire.headers import InvalidResponse

__all__ = ["BODY_HIGH_WATER", "PLAIN_TEXT_HEADERS", "HTTPCycleCore", "ResponseStream"]


# Above this many buffered request body bytes the connection stops reading
# until the app consumes them (backpressure towards the client).
BODY_HIGH_WATER = 65536

# The head of every plain-text answer hurtle writes itself (500, 503, 4xx).
PLAIN_TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


class ResponseStream(Protocol):
    """What a protocol connection offers a cycle."""

    def send_continue(self) -> None:
        """Send `100 Continue` (RFC 9110 section 10.1.1)."""

    def start_response(self, status: object, headers: Any) -> None:
        """Check the response head; raise InvalidResponse if it cannot be sent."""

    def send_body(self, body: bytes, more_body: bool) -> asyncio.Future[None] | None:
        """Write the head (the first time) and this piece of body.

        Returns a future to wait on when the transport's write buffer is full
        (backpressure), else None.
        """

    def resume_reading(self) -> None:
        """The cycle consumed buffered body; reading may go on."""

    def response_failed(self) -> None:
        """The response cannot be completed: abort the connection."""

    def cycle_finished(self, cycle: HTTPCycleCore) -> None:
        """The app returned; the cycle is over."""


@mypyc_attr(allow_interpreted_subclasses=True)
class HTTPCycleCore(Wakeable):
    """Everything of one request cycle but its coroutines (asgi/http.py: HTTPCycle)."""

    __slots__ = (
        "_body",
        "_body_size",
        "_end_sent",
        "_expect_continue",
        "_pending_start",
        "bytes_sent",
        "disconnected",
        "head_written",
        "request_ended",
        "response_complete",
        "response_started",
        "scope",
        "start_time",
        "status",
        "stream",
        "task",
    )

    def __init__(
        self, scope: Scope, stream: ResponseStream, expect_continue: bool, start_time: float
    ) -> None:
        self.scope = scope
        self.stream = stream
        self._waiter = None
        self.start_time = start_time
        self._expect_continue = expect_continue
        self._body: list[bytes] = []
        self._body_size = 0
        self._end_sent = False
        self._pending_start: Message | None = None
        self.request_ended = False
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.status = 0
        self.bytes_sent = 0
        self.head_written = False
        # The task running the app, when it did not finish at once (net/ sets it).
        self.task: asyncio.Task[None] | None = None

    # -- fed by the connection ---------------------------------------------

    def feed_body(self, data: bytes) -> bool:
        """Buffer request body; True when the buffer is above the high-water mark."""
        if self.response_complete:
            return False  # Nobody will read it: drop it, keep framing in step.
        self._body.append(data)
        self._body_size += len(data)
        self._wake()
        return self._body_size > BODY_HIGH_WATER

    @property
    def body_buffer_full(self) -> bool:
        """True while more than BODY_HIGH_WATER bytes of body wait for the app."""
        return self._body_size > BODY_HIGH_WATER

    def feed_end(self) -> None:
        self.request_ended = True
        if self._waiter is not None:  # Usually nobody waits: spare the call.
            self._wake()

    def feed_disconnect(self) -> None:
        self.disconnected = True
        self._wake()

    # -- the synchronous parts of receive() and send() ---------------------

    def _next_message(self) -> Message | None:
        """What `receive()` returns now, or None if it must wait for a feed."""
        if self._expect_continue:
            self._expect_continue = False
            if not self.response_started and not self.disconnected:
                self.stream.send_continue()
        if self.disconnected and not self.request_ended:
            return {"type": "http.disconnect"}
        if self._body or (self.request_ended and not self._end_sent):
            body = self._body
            data = body[0] if len(body) == 1 else b"".join(body)
            resume = self._body_size > BODY_HIGH_WATER
            self._body = []
            self._body_size = 0
            more = not self.request_ended
            if not more:
                self._end_sent = True
            if resume and more:
                self.stream.resume_reading()
            return {"type": "http.request", "body": data, "more_body": more}
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        return None

    def _accept(self, message: Message) -> asyncio.Future[None] | None:
        """Check and pass on what the app sent; a future to await when writing is paused."""
        if self.disconnected:
            raise ClientDisconnected("the client disconnected")
        kind = message["type"]
        if kind == "http.response.body":
            if not self.response_started:
                raise InvalidResponse("http.response.body sent before http.response.start")
            if self.response_complete:
                raise InvalidResponse("http.response.body sent after the response was complete")
            body = message.get("body", b"")
            more_body = message.get("more_body", False)
            if type(body) is not bytes:
                if not isinstance(body, bytes | bytearray | memoryview):
                    raise InvalidResponse(f"body must be bytes, got {type(body).__name__}")
                body = bytes(body)
            more_body = bool(more_body)
            self.bytes_sent += len(body)
            if not more_body:
                self.response_complete = True
                # A receive() already waiting returns http.disconnect now
                # (www.rst: receive after the response was sent). Apps that
                # listen for disconnect while streaming (Litestar) end here.
                if self._waiter is not None:
                    self._wake()
            self.head_written = True
            return self.stream.send_body(body, more_body)
        if kind == "http.response.start":
            if self.response_started:
                raise InvalidResponse("http.response.start sent twice")
            self.stream.start_response(message.get("status"), message.get("headers", ()))
            self.status = message["status"]
            self.response_started = True
            return None
        raise InvalidResponse(f"unexpected ASGI message type {kind!r} in an http cycle")

    # -- the end of the app ----------------------------------------------------

    def _app_returned(self) -> None:
        if not self.response_started:
            if not self.disconnected:
                error_log.error("ASGI app returned without starting a response")
                self._send_internal_error()
        elif not self.response_complete and not self.disconnected:
            error_log.error("ASGI app returned without completing the response")
            self.stream.response_failed()

    def _cycle_over(self) -> None:
        if self._waiter is not None:
            self._wake()
        self.stream.cycle_finished(self)
        if self.start_time:
            self._log_access()

    def _log_access(self) -> None:
        scope = self.scope
        target = scope["raw_path"]
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        log_access(
            scope["client"],
            scope["method"],
            target,
            scope["http_version"],
            self.status,
            self.bytes_sent,
            (perf_counter() - self.start_time) * 1000.0,
        )

    def _app_failed(self, exc: BaseException) -> None:
        if self.disconnected and isinstance(exc, OSError | asyncio.CancelledError):
            error_log.debug("client disconnected: %r", exc)
            return
        if isinstance(exc, InvalidResponse):
            error_log.error("ASGI app sent an invalid response: %s", exc)
        elif isinstance(exc, Exception):
            error_log.error("Exception in ASGI app", exc_info=exc)
        if self.response_complete:
            return
        if self.head_written:
            self.stream.response_failed()
        else:
            self._send_internal_error()

    def _send_internal_error(self) -> None:
        if self.disconnected:
            return
        self.response_started = True
        self.response_complete = True
        self.head_written = True
        self.status = 500
        body = b"Internal Server Error"
        self.bytes_sent = len(body)
        try:
            self.stream.start_response(500, PLAIN_TEXT_HEADERS)
            self.stream.send_body(body, False)
        except InvalidResponse:  # pragma: no cover - fixed, valid headers
            self.stream.response_failed()
