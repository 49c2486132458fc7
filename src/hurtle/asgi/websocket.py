"""The ASGI websocket cycle (asgiref specs/www.rst, docs/extensions.rst).

Theory of operation
-------------------
One `WebSocketCycle` lives as long as the connection. Its phases:

    CONNECTING  `receive()` gave `websocket.connect`; the app answers with
                `websocket.accept`, `websocket.close` (HTTP 403), or a
                denial response (`websocket.http.response.*`, the extension
                advertised in the scope)
    OPEN        messages flow both ways
    CLOSING     the app sent `websocket.close`; waiting for the peer's reply
    CLOSED      the connection is gone: `receive()` returns
                `websocket.disconnect` with the peer's code and reason,
                `send()` raises ClientDisconnected (an OSError)

The connection (net/) feeds `feed_message` and `feed_closed`; when more than
`max_queue` messages wait for the app it pauses reading, and `receive()`
resumes it. An exception from the app before the handshake is answered
becomes HTTP 500; after it, close code 1011.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from enum import Enum
from typing import Any, Protocol

from hurtle.asgi.http_core import PLAIN_TEXT, check_response_start, log_app_failure
from hurtle.asgi.running import RunsApp
from hurtle.asgi.types import ClientDisconnected, Message, Scope
from hurtle.asgi.wake import Wakeable
from hurtle.logs import access_log, error_log, log_safe, log_websocket
from hurtle.wire.headers import InvalidResponse, ResponseHeaders

__all__ = ["WebSocketCycle", "WebSocketStream"]


class WebSocketStream(Protocol):
    """What a connection offers a websocket cycle."""

    def accept(self, subprotocol: str | None, headers: Any) -> None: ...

    def deny_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> None:
        """Answer the handshake with HTTP: the (checked) head and the first body."""

    def deny_body(self, body: bytes, more_body: bool) -> None: ...

    def send_message(self, data: str | bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...

    def write_paused(self) -> asyncio.Future[None] | None: ...

    def resume_reading(self) -> None: ...

    def cycle_finished(self, cycle: WebSocketCycle) -> None: ...


class Phase(Enum):
    CONNECTING = "connecting"
    DENYING = "denying"  # A denial response is being streamed.
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class WebSocketCycle(Wakeable, RunsApp):
    def __init__(self, scope: Scope, stream: WebSocketStream, max_queue: int) -> None:
        self.scope = scope
        self.stream = stream
        self._waiter = None
        self.max_queue = max_queue
        self.phase = Phase.CONNECTING
        self._connect_sent = False
        self._messages: deque[str | bytes] = deque()
        self._close_code = 1006
        self._close_reason = ""
        self._disconnected = False
        self.reading_paused = False
        self.handshake_done = False  # 101 or an HTTP answer has gone out.
        # A denial's `websocket.http.response.start`, checked, held until its first body.
        self._denial_head: tuple[int, ResponseHeaders] | None = None

    # -- fed by the connection ---------------------------------------------

    def feed_message(self, data: str | bytes) -> bool:
        """Queue a message; True when the queue is full and reading should pause."""
        self._messages.append(data)
        self._wake()
        return len(self._messages) >= self.max_queue

    def feed_closed(self, code: int, reason: str) -> None:
        if self._disconnected:
            return
        self._disconnected = True
        self._close_code = code
        self._close_reason = reason
        self.phase = Phase.CLOSED
        self._wake()
        if error_log.isEnabledFor(logging.DEBUG):
            error_log.debug("WebSocket closed: %d %s", code, log_safe(reason))

    # -- the ASGI callables --------------------------------------------------

    async def receive(self) -> Message:
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        while True:
            if self._messages:
                data = self._messages.popleft()
                if self.reading_paused and len(self._messages) < self.max_queue:
                    self.reading_paused = False
                    self.stream.resume_reading()
                if type(data) is str:
                    return {"type": "websocket.receive", "text": data}
                return {"type": "websocket.receive", "bytes": data}
            if self._disconnected:
                return {
                    "type": "websocket.disconnect",
                    "code": self._close_code,
                    "reason": self._close_reason,
                }
            await self._new_waiter()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        phase = self.phase
        if phase is Phase.CLOSED:
            raise ClientDisconnected(f"the WebSocket is closed (code {self._close_code})")
        if kind == "websocket.send":
            if phase is not Phase.OPEN:
                raise InvalidResponse(f"websocket.send while the WebSocket is {phase.value}")
            text = message.get("text")
            data = message.get("bytes")
            if (text is None) == (data is None):
                raise InvalidResponse("websocket.send needs exactly one of 'text' and 'bytes'")
            if text is not None:
                if not isinstance(text, str):
                    raise InvalidResponse(f"'text' must be str, got {type(text).__name__}")
                self.stream.send_message(text)
            else:
                if not isinstance(data, bytes | bytearray | memoryview):
                    raise InvalidResponse(f"'bytes' must be bytes, got {type(data).__name__}")
                self.stream.send_message(bytes(data))
            paused = self.stream.write_paused()
            if paused is not None:
                await paused
        elif kind == "websocket.accept":
            if phase is not Phase.CONNECTING:
                raise InvalidResponse(f"websocket.accept while the WebSocket is {phase.value}")
            subprotocol = message.get("subprotocol")
            if subprotocol is not None and not isinstance(subprotocol, str):
                raise InvalidResponse("websocket.accept 'subprotocol' must be a str or None")
            self.stream.accept(subprotocol, message.get("headers") or [])
            self.phase = Phase.OPEN
            self.handshake_done = True
            # HTTP/2 accepts with 200 (RFC 8441 section 5), HTTP/1.1 with 101.
            self._log_handshake(200 if self.scope["http_version"] == "2" else 101)
        elif kind == "websocket.close":
            code = message.get("code", 1000)
            reason = message.get("reason") or ""
            if not isinstance(code, int) or not isinstance(reason, str):
                raise InvalidResponse("websocket.close needs an int 'code' and a str 'reason'")
            if phase is Phase.CONNECTING:
                # asgiref www.rst: a close before accept denies with 403.
                self._deny(403, b"Forbidden\n")
            elif phase is Phase.OPEN:
                self.phase = Phase.CLOSING
                self.stream.close(code, reason)
            elif phase is Phase.DENYING:
                raise InvalidResponse("websocket.close during a denial response")
        elif kind == "websocket.http.response.start":
            if phase is not Phase.CONNECTING:
                raise InvalidResponse(f"{kind} while the WebSocket is {phase.value}")
            status, headers = check_response_start(message)
            self._denial_head = (status, headers)
            self.phase = Phase.DENYING
            self._log_handshake(status)
        elif kind == "websocket.http.response.body":
            if phase is not Phase.DENYING:
                raise InvalidResponse(f"{kind} before websocket.http.response.start")
            body = message.get("body", b"")
            if not isinstance(body, bytes | bytearray | memoryview):
                raise InvalidResponse(f"body must be bytes, got {type(body).__name__}")
            more_body = bool(message.get("more_body", False))
            self.handshake_done = True
            head = self._denial_head
            if head is not None:
                self._denial_head = None
                self.stream.deny_response(head[0], head[1], bytes(body), more_body)
            else:
                self.stream.deny_body(bytes(body), more_body)
            if not more_body:
                self.feed_closed(1006, "")
        else:
            raise InvalidResponse(f"unexpected ASGI message type {kind!r} in a websocket cycle")

    def _log_handshake(self, status: int) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        scope = self.scope
        client = scope["client"]
        target = scope["raw_path"]
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        log_websocket(client, target, status)

    def _deny(self, status: int, body: bytes) -> None:
        """hurtle's own plain-text denial: 403 for a close before accept, 500 for a failure."""
        self._log_handshake(status)
        self.phase = Phase.DENYING
        self.handshake_done = True
        self.stream.deny_response(status, PLAIN_TEXT, body, False)
        self.feed_closed(1006, "")

    # -- running the app -------------------------------------------------------

    def _app_returned(self) -> None:
        if self.phase is Phase.CONNECTING:
            error_log.error("ASGI app returned without accepting or closing the WebSocket")
            self._deny(500, b"Internal Server Error\n")
        elif self.phase is Phase.OPEN:
            self.phase = Phase.CLOSING
            self.stream.close(1000, "")
        elif self.phase is Phase.DENYING:
            error_log.error("ASGI app returned without completing its denial response")
            self._end_denial()

    def _cycle_over(self) -> None:
        self._wake()
        self.stream.cycle_finished(self)

    def _app_failed(self, exc: BaseException) -> None:
        if not log_app_failure(exc, self._disconnected, "WebSocket message"):
            return
        if self.phase is Phase.CONNECTING:
            self._deny(500, b"Internal Server Error\n")
        elif self.phase in (Phase.OPEN, Phase.CLOSING):
            self.phase = Phase.CLOSING
            self.stream.close(1011, "")  # RFC 6455 section 7.4.1: internal error.
        elif self.phase is Phase.DENYING:
            self._end_denial()

    def _end_denial(self) -> None:
        """A denial response the app did not complete: a 500 while its head is still
        held (nothing was written, as for HTTP), else the connection is cut."""
        if self._denial_head is not None:
            self._denial_head = None
            self._deny(500, b"Internal Server Error\n")
        else:
            self.stream.close(1006, "")
