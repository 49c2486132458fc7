"""The asyncio side of a WebSocket: one session, carried by TCP or by an HTTP/2 stream.

Theory of operation
-------------------
`WebSocketSession` is everything a WebSocket does once its handshake
request is in: the app's cycle, frames both ways, read and write
backpressure, pings, the close handshake and its timeout, graceful
shutdown. It writes its frames to a `WebSocketCarrier`, which is either the
TCP transport (`WebSocketConnection`, HTTP/1.1 after the upgrade) or an
HTTP/2 stream (net/h2_websocket.py, RFC 8441): `write`, `close` (TCP close,
or END_STREAM), `abort` (TCP reset, or RST_STREAM), `pause_reading` and
`resume_reading`. The subclasses add only the HTTP of the handshake: the
101 or the 200, and HTTP answers (rejections, denials).

`H1Connection` hands over a request whose `Upgrade: websocket` it will not
serve as HTTP: `WebSocketConnection.start()` becomes the transport's protocol.
A handshake that cannot succeed is answered with an HTTP error at once,
without calling the app. Otherwise the app runs in a `WebSocketCycle`
(asgi/websocket.py) and this class moves bytes between the transport and
`WebSocketWire` (wire/ws.py):

- bytes in -> messages for the cycle; reading pauses while `--ws-max-queue`
  messages wait for the app;
- the app's messages -> frames out; `send` waits while the transport's write
  buffer is full;
- a ping every `--ws-ping-interval` seconds; no pong within
  `--ws-ping-timeout` fails the connection (1011);
- after a close frame goes out, the peer has `_CLOSE_TIMEOUT` seconds to
  answer before the TCP connection is dropped;
- graceful shutdown closes with 1012 (service restart).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Protocol

from hurtle.asgi.http_core import SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_BODY
from hurtle.asgi.types import ClientDisconnected, Scope
from hurtle.asgi.websocket import WebSocketCycle
from hurtle.logs import error_log, log_safe, websocket_library_log
from hurtle.net.state import ServerState
from hurtle.net.write_backpressure import WriteBackpressure
from hurtle.wire.h1 import H1Response, RequestReceived
from hurtle.wire.headers import ResponseHeaders, check_response_headers
from hurtle.wire.ws import (
    MessageReceived,
    PongReceived,
    WebSocketClosed,
    WebSocketWire,
    WSEvent,
)

__all__ = ["WebSocketCarrier", "WebSocketConnection", "WebSocketSession"]


_CLOSE_TIMEOUT = 5.0
_COALESCE = 65536
_SERVICE_RESTART = 1012  # RFC 6455 section 7.4 (IANA registry): the server restarts.


class WebSocketCarrier(Protocol):
    """What carries a WebSocket's bytes: a TCP transport, or an HTTP/2 stream."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """The orderly end after what was written: TCP close, or END_STREAM."""

    def abort(self) -> None:
        """The abrupt end: TCP reset, or RST_STREAM."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class WebSocketSession(WriteBackpressure):
    """One WebSocket, whatever carries it; subclasses answer the handshake in their HTTP."""

    def __init__(
        self,
        state: ServerState,
        transport: WebSocketCarrier,
        wire: WebSocketWire,
        target: bytes,
        scope: Scope,
        pending: bytes,
    ) -> None:
        config = state.config
        self.state = state
        # --metrics-bind's WebSocket counters, or None: held here, since a
        # message passes two counting sites and a read and a write two more.
        self._counters = state.metrics.websocket if state.metrics is not None else None
        self.loop = state.loop
        self.transport = transport
        self.target = target
        self.wire = wire
        self.cycle = WebSocketCycle(scope, self, config.ws_max_queue)
        self._pending = pending  # Bytes the client sent after its handshake request.
        self._task: asyncio.Task[None] | None = None
        self._read_paused = False
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_deadline: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._unflushed = 0  # Bytes of frames queued in the wire, not yet written.
        self._lost = False

    def start(self) -> None:
        """Answer a bad handshake, or start the app."""
        rejection = self.wire.rejection()
        if rejection is not None:
            error_log.info(
                "rejected WebSocket handshake for %s: %d",
                log_safe(self.target),
                rejection.status,
            )
            if self.state.metrics is not None:
                self.state.metrics.reject(str(rejection.status))
            headers = check_response_headers(rejection.headers)
            self._answer_http(rejection.status, headers, rejection.body)
            return
        if self.state.over_capacity():
            if self.state.metrics is not None:
                self.state.metrics.reject("503")
            self._answer_http(503, SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE_BODY)
            return
        app = self.state.app_for_request()
        self._task = self.state.start_app(self.cycle.run(app), eagerly=False)

    # -- what the subclass's HTTP does ----------------------------------------

    def _answer_http(self, status: int, headers: ResponseHeaders, body: bytes) -> None:
        """hurtle's own HTTP answer to a handshake (rejected, overloaded); the end."""
        raise NotImplementedError

    def _send_accept(self, subprotocol: str | None, headers: Any) -> None:
        """The handshake's success: 101 (HTTP/1.1) or 200 (HTTP/2)."""
        raise NotImplementedError

    def deny_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> None:
        """A denial's head and first body (the websocket.http.response extension)."""
        raise NotImplementedError

    def deny_body(self, body: bytes, more_body: bool) -> None:
        raise NotImplementedError

    def handshake_done(self) -> bool:
        """The handshake was answered: accepted, or denied with HTTP."""
        return self.cycle.handshake_done

    def accepted(self) -> bool:
        return not self.wire.is_connecting

    # -- bytes in (asyncio.Protocol's names) ------------------------------------

    def data_received(self, data: bytes) -> None:
        counters = self._counters
        if counters is not None:
            counters.bytes_received += len(data)
        if not self.cycle.handshake_done:
            # RFC 6455 section 4.1: a client waits for the 101 before sending
            # frames; hold what came early until the handshake is answered.
            self._pending += data
            if len(self._pending) > self.state.config.ws_max_size:
                self.transport.abort()
            return
        if self.wire.is_connecting:
            return  # Denied: nothing more is read.
        self._handle(self.wire.receive_data(data))

    def eof_received(self) -> bool | None:
        if self.cycle.handshake_done and not self.wire.is_connecting:
            self._handle(self.wire.receive_eof())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.state.connections.discard(self)
        for timer in (self._ping_timer, self._pong_deadline, self._close_timer):
            if timer is not None:
                timer.cancel()
        self.cycle.feed_closed(1006, "")
        self._release_writer()

    # -- frames in -------------------------------------------------------------

    def _handle(self, events: list[WSEvent]) -> None:
        cycle = self.cycle
        messages = 0
        for event in events:
            if type(event) is MessageReceived:
                messages += 1
                if cycle.feed_message(event.data) and not self._read_paused:
                    self._read_paused = True
                    cycle.reading_paused = True
                    self.transport.pause_reading()
            elif type(event) is PongReceived:
                if event.data == self._ping_payload:
                    self._ping_payload = None
                    if self._pong_deadline is not None:
                        self._pong_deadline.cancel()
                        self._pong_deadline = None
            elif type(event) is WebSocketClosed:
                cycle.feed_closed(event.code, event.reason)
        counters = self._counters
        if counters is not None and messages:
            counters.messages_received += messages  # Once a read, not once a message.
        self._flush()

    def _flush(self) -> None:
        self._unflushed = 0
        data, close = self.wire.outgoing()
        if self._lost:
            return
        if data:
            self.transport.write(data)
            counters = self._counters
            if counters is not None:
                counters.bytes_sent += len(data)
        if close:
            self.transport.close()
        elif not self.wire.is_open and self._close_timer is None and self.cycle.handshake_done:
            # We sent a close frame; the peer has a while to answer it.
            self._close_timer = self.loop.call_later(_CLOSE_TIMEOUT, self.transport.abort)

    # -- WebSocketStream, for the cycle -------------------------------------------

    def accept(self, subprotocol: str | None, headers: Any) -> None:
        self._send_accept(subprotocol, headers)
        self._schedule_ping()
        counters = self._counters
        if counters is not None:
            counters.sessions += 1
        pending, self._pending = self._pending, b""
        if pending:
            self._handle(self.wire.receive_data(pending))

    def send_message(self, data: str | bytes) -> None:
        if not self.wire.is_open:
            # Closing (shutdown, a failure) or closed: the app hears it as OSError.
            raise ClientDisconnected("the WebSocket is closing")
        if isinstance(data, str):
            self.wire.send_text(data)
        else:
            self.wire.send_bytes(data)
        counters = self._counters
        if counters is not None:
            counters.messages_sent += 1
        # Frames sent in one turn of the loop leave in one write (an app that
        # answers a burst of messages makes one syscall, not one per frame);
        # past _COALESCE bytes they go at once, so memory stays bounded and
        # write backpressure still reaches a `send` that never yields.
        if self._unflushed == 0:
            self.state.flush_soon(self)  # One call_soon a turn for every connection.
        self._unflushed += len(data) + 1
        if self._unflushed > _COALESCE:
            self._flush()

    def flush(self) -> None:
        """Write the frames queued in this turn of the loop (ServerState.flush_soon)."""
        if self._unflushed:
            self._flush()

    def close(self, code: int, reason: str) -> None:
        if self._lost:
            return
        if self.wire.is_connecting:  # Never accepted: no frames to send.
            self.transport.close()
            return
        self.wire.send_close(code, reason)
        self._flush()

    def resume_reading(self) -> None:
        if self._read_paused and not self._lost:
            self._read_paused = False
            self.transport.resume_reading()

    def cycle_finished(self, cycle: WebSocketCycle) -> None:
        self.state.request_finished(self._task)

    # -- keepalive (RFC 6455 section 5.5.2) -------------------------------------

    def _schedule_ping(self) -> None:
        interval = self.state.config.ws_ping_interval
        if interval:
            self._ping_timer = self.loop.call_later(interval, self._ping)

    def _ping(self) -> None:
        self._ping_timer = None
        if self._lost or not self.wire.is_open:
            return
        if self._ping_payload is None:
            self._ping_payload = os.urandom(4)
            self.wire.send_ping(self._ping_payload)
            self._flush()
            timeout = self.state.config.ws_ping_timeout
            if timeout:
                self._pong_deadline = self.loop.call_later(timeout, self._pong_missing)
        self._schedule_ping()

    def _pong_missing(self) -> None:
        self._pong_deadline = None
        if self._lost:
            return
        error_log.info("WebSocket peer did not answer a ping in time; closing")
        self._handle(self.wire.fail(1011, "keepalive ping timeout"))
        self.transport.close()

    # -- server control ------------------------------------------------------

    def shutdown(self) -> None:
        """Graceful shutdown: close an open WebSocket with 1012."""
        if self.wire.is_open:
            self.wire.send_close(_SERVICE_RESTART, "server shutting down")
            self._flush()
        elif not self.cycle.handshake_done:
            pass  # The app is still deciding; the drain waits for it.

    def abort(self) -> None:
        self.transport.abort()


class WebSocketConnection(WebSocketSession, asyncio.Protocol):
    """A WebSocket on HTTP/1.1: takes the TCP transport over after the upgrade request."""

    def __init__(
        self,
        state: ServerState,
        transport: asyncio.Transport,
        request: RequestReceived,
        scope: Scope,
        pending: bytes,
    ) -> None:
        config = state.config
        wire = WebSocketWire(
            request.method,
            request.target,
            request.http_version,
            request.headers,
            max_size=config.ws_max_size,
            per_message_deflate=config.ws_per_message_deflate,
            logger=websocket_library_log,
        )
        super().__init__(state, transport, wire, request.target, scope, pending)
        self.request = request
        self._tcp = transport
        self._denial: H1Response | None = None

    def start(self) -> None:
        """Become the transport's protocol; answer a bad handshake or start the app."""
        self.state.connections.add(self)
        super().start()

    def _send_accept(self, subprotocol: str | None, headers: Any) -> None:
        self._tcp.write(self.wire.accept(subprotocol, headers, self.state.config.server_header))

    def deny_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> None:
        response = self._denial = H1Response(status, headers, "GET", keep_alive=False)
        head = response.head(
            body, more_body, "1.1", self.state.defaults_without(response.header_names)
        )
        self._tcp.write(head + response.body(body, more_body))
        if not more_body:
            self._tcp.close()

    def deny_body(self, body: bytes, more_body: bool) -> None:
        response = self._denial
        assert response is not None
        self._tcp.write(response.body(body, more_body))
        if not more_body:
            self._tcp.close()

    def _answer_http(self, status: int, headers: ResponseHeaders, body: bytes) -> None:
        response = H1Response(status, headers, self.request.method, keep_alive=False)
        head = response.head(body, False, self.request.http_version, self.state.default_block)
        self._tcp.write(head + response.body(body, False))
        self._tcp.close()
