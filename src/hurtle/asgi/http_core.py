"""The synchronous half of the ASGI HTTP request cycle: state, checks, message building.

asgi/http.py explains the cycle. Its three coroutines (`receive`, `send`,
`run`) are thin: each calls into this class for everything that does not
await. This module is compiled by setup.py (mypyc) and the coroutines are
not, because a compiled coroutine that is cancelled while it awaits passes
the cancellation on with the (type, value, traceback) form of throw(),
deprecated since Python 3.12 (mypyc issue 1214): every app task cancelled by
a timeout, a cancel scope or a shutdown would print a DeprecationWarning.

States
------
Two small state machines, one per direction (as h11 keeps one per role),
and a flag for the client having gone, which can happen in any state:

    request   RECEIVING --feed_end--> ENDED --receive() gives the last body--> DELIVERED

    response  IDLE --start--> HELD --first body, more--> STREAMING --last body--> COMPLETE
                |               `--first body, last---------------------------^
                |--------- app fails or returns, nothing sent: hurtle's 500 --^
              HELD --app fails or returns: hurtle's 500 (nothing was written)--^
              STREAMING --app fails or returns early--> FAILED (the stream is reset)
              STREAMING or HELD --last body, start said trailers--> TRAILING
              TRAILING --last http.response.trailers--> COMPLETE
              TRAILING --app fails or returns early--> FAILED (the stream is reset)

HELD is the held head: `http.response.start` is checked when it arrives (an
invalid one raises in the app's `send`) and kept until the first body, which
goes to the stream together with it, so a response sent as start + one body
is one write (HTTP/1.1) or one HEADERS + DATA (HTTP/2). tests/asgi/
test_http_cycle.py runs every transition.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Final, Protocol

from mypy_extensions import mypyc_attr

from hurtle.asgi.file_body import start_file_body
from hurtle.asgi.types import ASGIViolation, ClientDisconnected, Message, Scope
from hurtle.asgi.wake import Wakeable
from hurtle.logs import error_log, log_access
from hurtle.wire.headers import (
    InvalidResponse,
    ResponseHeaders,
    check_final_status,
    check_links,
    check_response_headers,
    check_trailers,
)

__all__ = [
    "BODY_HIGH_WATER",
    "PLAIN_TEXT",
    "PLAIN_TEXT_HEADERS",
    "REQUEST_DELIVERED",
    "REQUEST_ENDED",
    "REQUEST_RECEIVING",
    "RESPONSE_COMPLETE",
    "RESPONSE_FAILED",
    "RESPONSE_HELD",
    "RESPONSE_IDLE",
    "RESPONSE_STREAMING",
    "RESPONSE_TRAILING",
    "SERVICE_UNAVAILABLE",
    "SERVICE_UNAVAILABLE_BODY",
    "SERVICE_UNAVAILABLE_HEADERS",
    "HTTPCycleCore",
    "ResponseStream",
    "log_app_failure",
]

REQUEST_RECEIVING: Final = 0  # More body may arrive.
REQUEST_ENDED: Final = 1  # The whole body arrived; some of it may wait for the app.
REQUEST_DELIVERED: Final = 2  # The app has read the last body message.

RESPONSE_IDLE: Final = 0  # Nothing sent.
RESPONSE_HELD: Final = 1  # http.response.start checked, held until the first body.
RESPONSE_STREAMING: Final = 2  # The head is out; more body follows.
RESPONSE_TRAILING: Final = 3  # The last body is out; the response waits for its trailers.
RESPONSE_COMPLETE: Final = 4  # The response is out (the app's, or hurtle's 500).
RESPONSE_FAILED: Final = 5  # Cut short after the head went out: the stream was reset.

# Above this many buffered request body bytes a connection that reads one
# request at a time (HTTP/1.1) stops reading until the app consumes them.
BODY_HIGH_WATER = 65536

# The head of every plain-text answer hurtle writes itself (500, 503, 4xx),
# as the app would send it, and checked once.
PLAIN_TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]
PLAIN_TEXT: Final = check_response_headers(PLAIN_TEXT_HEADERS)
_INTERNAL_ERROR = b"Internal Server Error\n"
# The answer past --limit-concurrency, for HTTP and WebSocket handshakes alike
# (RFC 9110 section 15.6.4; Retry-After, section 10.2.3).
SERVICE_UNAVAILABLE_HEADERS = [*PLAIN_TEXT_HEADERS, (b"retry-after", b"1")]
SERVICE_UNAVAILABLE: Final = check_response_headers(SERVICE_UNAVAILABLE_HEADERS)
SERVICE_UNAVAILABLE_BODY = b"Service Unavailable\n"


class ResponseStream(Protocol):
    """What a protocol offers a cycle: an HTTP/1.1 connection, or one HTTP/2 stream."""

    def send_continue(self) -> None:
        """Send `100 Continue` (RFC 9110 section 10.1.1)."""

    def send_early_hint(self, links: ResponseHeaders) -> None:
        """Send `103 Early Hints` with these (checked) Link fields (RFC 8297).

        Dropped where the client cannot take a 1xx (HTTP/1.0, RFC 9110 section 15.2).
        """

    def send_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> asyncio.Future[None] | None:
        """Send the (checked) head with the first piece of body.

        Returns a future to wait on when the transport's write buffer is full
        (backpressure), else None; send_body likewise.
        """

    def send_body(self, body: bytes, more_body: bool) -> asyncio.Future[None] | None:
        """Send a further piece of body."""

    def send_trailers(self, trailers: ResponseHeaders) -> asyncio.Future[None] | None:
        """End the response with its (checked) trailer fields, after the last body.

        The stream sends them where its protocol can (a trailing HEADERS on
        HTTP/2, a chunked trailer section on HTTP/1.1 to a client that sent
        `TE: trailers`) and drops them elsewhere; either way the response ends.
        """

    def send_file(self, fd: int, offset: int, count: int) -> asyncio.Future[int] | None:
        """Send `count` bytes of the file `fd` from `offset` as body, without copying them.

        None when this stream cannot (asgi/file_body.py then reads the file in
        pieces); else a future of the number of bytes sent, fewer than `count`
        only if the file ended early. Called after the head went out.
        """

    def body_consumed(self, size: int) -> None:
        """The app took `size` bytes of request body: credit for the client to send more."""

    def response_failed(self) -> None:
        """The response cannot be completed: reset the stream (abort the connection)."""

    def cycle_finished(self, cycle: HTTPCycleCore) -> None:
        """The app returned; the cycle is over."""


def log_app_failure(exc: BaseException, disconnected: bool, what: str) -> bool:
    """Log an exception that ended an app (HTTP or WebSocket); False if it needs no answer.

    An OSError or a cancellation after the client went away is the app
    hearing of the disconnect, not a bug: logged at debug, and nothing is
    left to answer. Anything else is logged as an error; the caller then
    answers with a 500 if nothing was sent yet, else resets the stream.
    """
    if disconnected and isinstance(exc, OSError | asyncio.CancelledError):
        error_log.debug("client disconnected: %r", exc)
        return False
    if isinstance(exc, ASGIViolation):
        pass  # --asgi-strict logged it, with the app's line, when it was found.
    elif isinstance(exc, InvalidResponse):
        error_log.error("ASGI app sent an invalid %s: %s", what, exc)
    elif isinstance(exc, Exception):
        error_log.error("Exception in ASGI app", exc_info=exc)
    return True


def check_response_start(message: Message) -> tuple[int, ResponseHeaders]:
    """The status and checked headers of an `http.response.start` (or a denial's)."""
    status = message.get("status")
    if type(status) is not int or not 200 <= status <= 599:
        status = check_final_status(status)
    return status, check_response_headers(message.get("headers", ()))


@mypyc_attr(allow_interpreted_subclasses=True)
class HTTPCycleCore(Wakeable):
    """Everything of one request cycle but its coroutines (asgi/http.py: HTTPCycle)."""

    __slots__ = (
        "_body",
        "_body_size",
        "_expect_continue",
        "_headers",
        "_trailer_fields",
        "_trailers",
        "app_body_bytes",
        "connection",
        "disconnected",
        "request_state",
        "response_state",
        "scope",
        "sent_headers",
        "start_time",
        "status",
        "task",
    )

    def __init__(
        self, scope: Scope, connection: ResponseStream, expect_continue: bool, start_time: float
    ) -> None:
        self.scope = scope
        # The protocol side: the HTTP/1.1 connection, or the HTTP/2 stream.
        self.connection = connection
        self._waiter = None
        self.start_time = start_time
        self._expect_continue = expect_continue
        self._body: list[bytes] = []
        self._body_size = 0
        self.request_state = REQUEST_RECEIVING
        self.response_state = RESPONSE_IDLE
        self.disconnected = False
        self.status = 0
        self._headers: ResponseHeaders | None = None
        # http.response.start said `trailers: True` (asgiref docs/extensions.rst).
        self._trailers = False
        # The checked fields of trailer messages with `more_trailers`, until the last one.
        self._trailer_fields: list[ResponseHeaders] | None = None
        # The head that went out, for the access log's {res:NAME} atoms.
        self.sent_headers: ResponseHeaders | None = None
        # Body bytes the app sent (the access log's size).
        self.app_body_bytes = 0
        # The task running the app, when it did not finish at once (net/ sets it).
        self.task: asyncio.Task[None] | None = None

    @property
    def head_sent(self) -> bool:
        """Whether the response head went out: no other response can be sent now."""
        return self.response_state >= RESPONSE_STREAMING

    @property
    def response_complete(self) -> bool:
        return self.response_state == RESPONSE_COMPLETE

    @property
    def body_buffer_full(self) -> bool:
        """True while more than BODY_HIGH_WATER bytes of body wait for the app."""
        return self._body_size > BODY_HIGH_WATER

    # -- fed by the connection ---------------------------------------------

    def feed_body(self, data: bytes) -> bool:
        """Buffer request body; True when the buffer is above the high-water mark."""
        if self.response_state >= RESPONSE_COMPLETE:
            return False  # Nobody will read it: drop it, keep framing in step.
        self._body.append(data)
        self._body_size += len(data)
        self._wake()
        return self._body_size > BODY_HIGH_WATER

    def feed_end(self) -> None:
        self.request_state = REQUEST_ENDED
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
            if self.response_state == RESPONSE_IDLE and not self.disconnected:
                self.connection.send_continue()
        request_state = self.request_state
        if self.disconnected and request_state == REQUEST_RECEIVING:
            return {"type": "http.disconnect"}
        if self._body or request_state == REQUEST_ENDED:
            body = self._body
            data = body[0] if len(body) == 1 else b"".join(body)
            self._body = []
            self._body_size = 0
            more = request_state == REQUEST_RECEIVING
            if not more:
                self.request_state = REQUEST_DELIVERED
            if data:
                self.connection.body_consumed(len(data))
            return {"type": "http.request", "body": data, "more_body": more}
        if self.disconnected or self.response_state >= RESPONSE_COMPLETE:
            return {"type": "http.disconnect"}
        return None

    def _accept(self, message: Message) -> asyncio.Future[None] | None:
        """Check and pass on what the app sent; a future to await when writing is paused."""
        if self.disconnected:
            raise ClientDisconnected("the client disconnected")
        kind = message["type"]
        state = self.response_state
        if kind == "http.response.body":
            if state != RESPONSE_STREAMING and state != RESPONSE_HELD:
                if state == RESPONSE_IDLE:
                    raise InvalidResponse("http.response.body sent before http.response.start")
                if state == RESPONSE_TRAILING:
                    raise InvalidResponse("http.response.body sent after the last body")
                raise InvalidResponse("http.response.body sent after the response was complete")
            body = message.get("body", b"")
            more_body = message.get("more_body", False)
            if type(body) is not bytes:
                if not isinstance(body, bytes | bytearray | memoryview):
                    raise InvalidResponse(f"body must be bytes, got {type(body).__name__}")
                body = bytes(body)
            more_body = bool(more_body)
            self.app_body_bytes += len(body)
            if more_body:
                self.response_state = RESPONSE_STREAMING
            elif self._trailers:
                # The stream keeps the response open for the trailers.
                self.response_state = RESPONSE_TRAILING
                more_body = True
            else:
                self.response_state = RESPONSE_COMPLETE
                # A receive() already waiting returns http.disconnect now
                # (www.rst: receive after the response was sent). Apps that
                # listen for disconnect while streaming (Litestar) end here.
                if self._waiter is not None:
                    self._wake()
            if state == RESPONSE_HELD:
                headers = self._headers
                assert headers is not None
                self._headers = None
                self.sent_headers = headers
                return self.connection.send_response(self.status, headers, body, more_body)
            return self.connection.send_body(body, more_body)
        if kind == "http.response.start":
            if state != RESPONSE_IDLE:
                raise InvalidResponse("http.response.start sent twice")
            self.status, self._headers = check_response_start(message)
            if message.get("trailers", False):
                self._trailers = True
            self.response_state = RESPONSE_HELD
            return None
        if kind == "http.response.trailers":
            return self._accept_trailers(message)
        if kind == "http.response.early_hint":
            # asgiref extensions.rst: any number of them, before the response starts.
            if state != RESPONSE_IDLE:
                raise InvalidResponse("http.response.early_hint sent after http.response.start")
            self.connection.send_early_hint(check_links(message.get("links")))
            return None
        if kind == "http.response.pathsend" or kind == "http.response.zerocopysend":
            if state != RESPONSE_STREAMING and state != RESPONSE_HELD:
                raise InvalidResponse(f"{kind} sent outside a response in progress")
            return start_file_body(self, message)
        raise InvalidResponse(f"unexpected ASGI message type {kind!r} in an http cycle")

    def _accept_trailers(self, message: Message) -> asyncio.Future[None] | None:
        """Check `http.response.trailers` and end the response with the last one.

        Fields are checked as response headers are, and the fields RFC 9110
        section 6.5.1 keeps out of trailers (framing, routing, content
        processing...) are refused: the app's `send` raises InvalidResponse,
        as it does for an invalid head.
        """
        if not self._trailers:
            raise InvalidResponse(
                "http.response.trailers sent, but http.response.start did not set trailers=True"
            )
        state = self.response_state
        if state != RESPONSE_TRAILING:
            if state >= RESPONSE_COMPLETE:
                raise InvalidResponse("http.response.trailers sent after the response was complete")
            raise InvalidResponse("http.response.trailers sent before the last http.response.body")
        checked = check_trailers(message.get("headers", ()))
        earlier = self._trailer_fields
        if message.get("more_trailers", False):
            if earlier is None:
                earlier = self._trailer_fields = []
            earlier.append(checked)
            return None
        if earlier is not None:
            self._trailer_fields = None
            earlier.append(checked)
            checked = ResponseHeaders(
                tuple(line for part in earlier for line in part.lines),
                tuple(pair for part in earlier for pair in part.pairs),
                frozenset(name for part in earlier for name in part.names),
                None,
                False,
                False,
            )
        self.response_state = RESPONSE_COMPLETE
        if self._waiter is not None:
            self._wake()
        return self.connection.send_trailers(checked)

    # -- the end of the app ----------------------------------------------------

    def _app_returned(self) -> None:
        state = self.response_state
        if state >= RESPONSE_COMPLETE or self.disconnected:
            return
        if state == RESPONSE_STREAMING:
            error_log.error("ASGI app returned without completing the response")
            self._reset()
        elif state == RESPONSE_TRAILING:
            error_log.error("ASGI app returned without sending the trailers it announced")
            self._reset()
        else:
            error_log.error("ASGI app returned without sending a response body")
            self._send_internal_error()

    def _app_failed(self, exc: BaseException) -> None:
        if not log_app_failure(exc, self.disconnected, "response"):
            return
        state = self.response_state
        if RESPONSE_STREAMING <= state <= RESPONSE_TRAILING:  # The head is out, the end is not.
            self._reset()
        elif state < RESPONSE_STREAMING:
            self._send_internal_error()

    def _reset(self) -> None:
        """A truncated response must never look complete: reset the stream."""
        self.response_state = RESPONSE_FAILED
        self.connection.response_failed()

    def _cycle_over(self) -> None:
        if self._waiter is not None:
            self._wake()
        self.connection.cycle_finished(self)
        if self.start_time:
            self._log_access()

    def _log_access(self) -> None:
        scope = self.scope
        status = self.status
        size = self.app_body_bytes
        if status == 204 or status == 304 or scope["method"] == "HEAD":
            # RFC 9110 section 6.4.1: these responses carry no body; the
            # protocol dropped what the app sent, and the log says what went out.
            size = 0
        log_access(
            scope,
            status,
            size,
            (perf_counter() - self.start_time) * 1000.0,
            self.sent_headers,
        )

    def _send_internal_error(self) -> None:
        """The 500 that stands in for a response the app could not give (nothing was sent)."""
        if self.disconnected:
            return
        self.response_state = RESPONSE_COMPLETE
        self._headers = None
        self.status = 500
        self.sent_headers = PLAIN_TEXT
        self.app_body_bytes = len(_INTERNAL_ERROR)
        self.connection.send_response(500, PLAIN_TEXT, _INTERNAL_ERROR, False)
