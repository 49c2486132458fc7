"""The asyncio side of an HTTP/2 connection: drives H2Wire and one ASGI cycle per stream.

Theory of operation
-------------------
An `H2Connection` takes a transport over from the HTTP/1.1 connection that
found HTTP/2 on it (ALPN h2, the prior-knowledge preface, or an accepted
`Upgrade: h2c`; net/connection.py). `data_received` feeds `H2Wire`
(hurtle's own engine, wire/h2_engine.py's H2Engine; wire/h2.py's H2Wire on
the h2 library has the same interface and is the import to switch back to)
and dispatches its events: a request opens an `H2Stream`, the
`ResponseStream` of that stream's `HTTPCycle` (asgi/http.py), the same cycle
HTTP/1.1 runs; body and end go to the cycle; a reset tells its app that the
client went away.

An extended CONNECT with `:protocol websocket` (RFC 8441) opens an
`H2WebSocketStream` instead: the carrier of a WebSocket session
(net/h2_websocket.py), which gets the stream's DATA, END_STREAM and resets.

Requests that the client resets in the same read as it opened them start no
app (RFC 9113 section 8.1, CVE-2023-44487): the read's events are looked at
whole before any app starts.

Flow control, both ways (RFC 9113 section 5.2): request body is handed
back as window only when the app reads it (`body_consumed`), so a stream
whose app does not read stalls only its own client; response body goes out
as far as the peer's windows allow, the rest waits in the stream until a
WINDOW_UPDATE, and the app's `send` waits with it. A stream that gets no
window for --timeout-write seconds is reset.

Closing: idle for --timeout-keep-alive, past --limit-requests-per-connection
or at a graceful shutdown, the connection sends GOAWAY (twice for a
shutdown: wire/h2.py says why), lets the streams in flight finish, and
closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from time import perf_counter
from typing import Protocol, cast

from hurtle.asgi.http import HTTPCycle
from hurtle.asgi.http_core import PLAIN_TEXT, HTTPCycleCore
from hurtle.asgi.scope import http_extensions, http_scope
from hurtle.logs import describe_client, error_log, log_safe
from hurtle.net.connection_info import ConnectionInfo
from hurtle.net.state import ServerState
from hurtle.net.write_backpressure import WriteBackpressure
from hurtle.wire.h2_engine import H2Engine as H2Wire
from hurtle.wire.h2_events import (
    BodyReceived,
    ConnectionEnded,
    H2Event,
    RequestEnded,
    RequestReceived,
    RequestRejected,
    StreamReset,
    WindowOpened,
)
from hurtle.wire.headers import ResponseHeaders

__all__ = ["CarriedSession", "H2Connection", "H2Stream", "H2WebSocketStream"]

_INTERNAL_ERROR = 0x2
_CANCEL = 0x8
_NO_ERROR = 0x0
_ENHANCE_YOUR_CALM = 0xB  # RFC 9113 section 7: the peer may be generating excessive load.
# Response fields that belong to an HTTP/1.1 connection (RFC 9113 section
# 8.2.2); connection and transfer-encoding never reach `pairs` (wire/headers.py).
_CONNECTION_SPECIFIC = frozenset([b"keep-alive", b"proxy-connection", b"upgrade"])
# Seconds between the two GOAWAYs of a graceful shutdown: at least a round
# trip on any network hurtle serves, so requests in flight when the first
# one left are not refused by the second (RFC 9113 section 6.8).
_GOAWAY_GRACE = 0.2
# Seconds a connection ended by an error keeps reading (and dropping) what the
# client still sends, after its GOAWAY (see _ended).
_LINGER = 2.0


class H2Stream:
    """One request's stream: what the request cycle writes its response to."""

    __slots__ = (
        "blocked_timer",
        "connection",
        "cycle",
        "ended",
        "method",
        "pending",
        "pending_end",
        "remaining",
        "request_ended",
        "stream_id",
        "trailers",
        "waiter",
    )

    def __init__(self, connection: H2Connection, stream_id: int, method: str) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.method = method
        self.cycle: HTTPCycleCore | None = None
        self.ended = False  # The response's last frame is out (or the stream was reset).
        self.request_ended = False
        # Body the peer's window did not take yet, and whether END_STREAM follows it.
        self.pending: list[memoryview] = []
        self.pending_end = False
        # Trailer fields that go out as the stream's last HEADERS once `pending` did.
        self.trailers: tuple[tuple[bytes, bytes], ...] | None = None
        # Bytes the app declared with content-length and has not sent yet.
        self.remaining: int | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.blocked_timer: asyncio.TimerHandle | None = None

    # -- ResponseStream ---------------------------------------------------------

    def send_continue(self) -> None:
        # RFC 9110 section 10.1.1 and RFC 9113 section 8.1: an interim HEADERS.
        if not self.ended:
            self.connection.wire.send_headers(self.stream_id, 100, (), False)
            self.connection.output_ready()

    def send_early_hint(self, links: ResponseHeaders) -> None:
        # RFC 8297 and RFC 9113 section 8.1: an interim HEADERS, :status 103.
        if not self.ended and links.pairs:
            self.connection.wire.send_headers(self.stream_id, 103, links.pairs, False)
            self.connection.output_ready()

    def send_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> asyncio.Future[None] | None:
        connection = self.connection
        if self.ended:
            return None
        fields = connection.state.default_fields(headers.names)
        if _CONNECTION_SPECIFIC.isdisjoint(headers.names):
            fields.extend(headers.pairs)
        else:
            # RFC 9113 section 8.2.2: HTTP/2 carries no connection-specific
            # fields; a client treats a response with them as malformed.
            fields.extend(pair for pair in headers.pairs if pair[0] not in _CONNECTION_SPECIFIC)
        no_body = self.method == "HEAD" or status == 204 or status == 304
        length = headers.content_length
        if length is None and not more_body and not no_body:
            # The whole body is here: say how long it is. Not for HEAD: RFC 9110
            # section 8.6 wants the length a GET would get, which only the app knows.
            length = len(body)
        if length is not None and status != 204 and status != 304:
            fields.append((b"content-length", b"%d" % length))
            if not no_body:
                self.remaining = length
        if no_body or (not body and not more_body):
            # RFC 9110 section 6.4.1: HEAD, 204 and 304 carry no body; the
            # stream ends with the head, and what the app sends is dropped.
            connection.wire.send_headers(self.stream_id, status, fields, True)
            self.ended = True
            connection.output_ready()
            return None
        connection.wire.send_headers(self.stream_id, status, fields, False)
        return self._send(body, more_body)

    def send_file(self, fd: int, offset: int, count: int) -> asyncio.Future[int] | None:
        # HTTP/2 frames every piece in DATA within the peer's windows: the file
        # is read in pieces that go through the body path (asgi/file_body.py).
        return None

    def send_body(self, body: bytes, more_body: bool) -> asyncio.Future[None] | None:
        if self.ended:
            return None
        return self._send(body, more_body)

    def _send(self, body: bytes, more_body: bool) -> asyncio.Future[None] | None:
        remaining = self.remaining
        if remaining is not None:
            if len(body) > remaining or (not more_body and len(body) < remaining):
                # RFC 9110 section 8.6: never more than declared, and a body
                # cut short must not look complete: the stream is reset.
                error_log.error(
                    "ASGI app sent a body %s than its content-length; resetting the stream",
                    "longer" if len(body) > remaining else "shorter",
                )
                self.response_failed()
                return None
            self.remaining = remaining - len(body)
        connection = self.connection
        if self.pending:
            self.pending.append(memoryview(body))
            self.pending_end = not more_body
        else:
            sent = connection.wire.send_data(self.stream_id, body, not more_body)
            if sent < len(body):
                self.pending.append(memoryview(body)[sent:])
                self.pending_end = not more_body
                self._blocked()
            elif not more_body:
                self.ended = True
        connection.output_ready()
        if self.pending:
            waiter = self.waiter
            if waiter is None:
                waiter = self.waiter = connection.loop.create_future()
            return waiter
        return connection.write_paused()

    def send_trailers(self, trailers: ResponseHeaders) -> asyncio.Future[None] | None:
        # RFC 9113 section 8.1: a trailing HEADERS frame with END_STREAM after
        # the DATA; trailer names are lower case and no pseudo-header is in
        # them (wire/headers.py checked). Without fields, an empty DATA ends it.
        if self.ended:
            return None  # HEAD, 204, 304: the stream ended with the head.
        if not trailers.pairs:
            return self._send(b"", False)
        if self.remaining:
            error_log.error(
                "ASGI app sent a body shorter than its content-length; resetting the stream"
            )
            self.response_failed()
            return None
        connection = self.connection
        if self.pending:
            self.trailers = trailers.pairs
            self.pending_end = True
            waiter = self.waiter
            if waiter is None:
                waiter = self.waiter = connection.loop.create_future()
            return waiter
        connection.wire.send_trailers(self.stream_id, trailers.pairs)
        self.ended = True
        connection.output_ready()
        return connection.write_paused()

    def window_opened(self) -> None:
        """Send what waited for window; wake the app's `send` once all of it went."""
        wire = self.connection.wire
        while self.pending:
            piece = self.pending[0]
            last = self.pending_end and len(self.pending) == 1 and self.trailers is None
            sent = wire.send_data(self.stream_id, piece, last)
            if sent < len(piece):
                self.pending[0] = piece[sent:]
                return
            self.pending.pop(0)
        if self.pending_end:
            if self.trailers is not None:
                wire.send_trailers(self.stream_id, self.trailers)
                self.trailers = None
            self.ended = True
        self._unblocked()
        self.connection.output_ready()

    def body_consumed(self, size: int) -> None:
        self.connection.wire.body_consumed(self.stream_id, size)
        self.connection.output_ready()

    # -- events from the connection (a WebSocket's stream has its own) ---------------

    def body_received(self, data: bytes) -> None:
        if self.cycle is not None:
            self.cycle.feed_body(data)  # Flow control bounds it.
        else:
            self.body_consumed(len(data))

    def end_received(self) -> None:
        self.request_ended = True
        if self.cycle is not None:
            self.cycle.feed_end()

    def response_failed(self) -> None:
        self.reset(_INTERNAL_ERROR)

    def reset(self, error_code: int) -> None:
        if not self.ended:
            self.ended = True
            self.connection.wire.reset(self.stream_id, error_code)
            self.connection.output_ready()
        self.pending = []
        self.trailers = None
        self._unblocked()

    def client_gone(self) -> None:
        """The client reset the stream or the connection is lost: nothing more goes out,
        a `send` waiting for window wakes, and the app hears `http.disconnect`."""
        self.ended = True
        self.pending = []
        self.trailers = None
        self._unblocked()
        if self.cycle is not None:
            self.cycle.feed_disconnect()

    def shutdown(self) -> None:
        """Graceful shutdown of what runs on the stream (a WebSocket has its own)."""

    def cycle_finished(self, cycle: HTTPCycleCore) -> None:
        # The stream and its cycle point at each other: unlinked here, both go
        # by reference counting the moment the response is out, not at the
        # next cyclic GC pass (which a cycle per request made 13% of the work).
        self.cycle = None
        state = self.connection.state
        state.request_finished(cycle.task)
        metrics = state.metrics
        if metrics is not None:
            state.count_request(cycle, metrics)
        if not cycle.response_complete and not self.ended:
            self.reset(_INTERNAL_ERROR)
        self.connection.stream_done(self)

    # -- window stalls ----------------------------------------------------------------

    def _blocked(self) -> None:
        if self.blocked_timer is None:
            connection = self.connection
            self.blocked_timer = connection.loop.call_later(
                connection.state.config.timeout_write, self._window_timeout
            )

    def _unblocked(self) -> None:
        if self.blocked_timer is not None:
            self.blocked_timer.cancel()
            self.blocked_timer = None
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _window_timeout(self) -> None:
        self.blocked_timer = None
        error_log.info(
            "resetting HTTP/2 stream %d from %s: no window for %.0fs",
            self.stream_id,
            describe_client(self.connection.client, "unix socket"),
            self.connection.state.config.timeout_write,
        )
        self.reset(_CANCEL)
        if self.cycle is not None:
            self.cycle.feed_disconnect()


class CarriedSession(Protocol):
    """What an H2WebSocketStream carries: net/h2_websocket.py's H2WebSocket."""

    def data_received(self, data: bytes) -> None: ...

    def eof_received(self) -> bool | None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...

    def shutdown(self) -> None: ...

    def handshake_done(self) -> bool: ...

    def accepted(self) -> bool: ...


class H2WebSocketStream(H2Stream):
    """An HTTP/2 stream as a WebSocket's carrier (net/websocket.py's WebSocketCarrier;
    net/h2_websocket.py has the rules of its end)."""

    __slots__ = ("app_done", "held", "over", "reading_paused", "session")

    def __init__(self, connection: H2Connection, stream_id: int) -> None:
        super().__init__(connection, stream_id, "CONNECT")
        self.session: CarriedSession | None = None
        self.reading_paused = False
        self.held = 0  # Bytes read while paused: their window goes back on resume.
        self.over = False
        self.app_done = False

    # -- WebSocketCarrier --------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.ended:
            self._send(data, True)

    def close(self) -> None:
        if not self.ended:
            self._send(b"", False)  # END_STREAM once what waits for window is out.
        self.settle()

    def abort(self) -> None:
        self.reset(_CANCEL)
        self._finish()

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False
        held, self.held = self.held, 0
        if held and not self.over:
            self.body_consumed(held)

    def write_paused(self) -> asyncio.Future[None] | None:
        """What the app's `send` waits on: window for this stream, or the socket."""
        if self.pending:
            waiter = self.waiter
            if waiter is None:
                waiter = self.waiter = self.connection.loop.create_future()
            return waiter
        return self.connection.write_paused()

    # -- events from the connection (H2Stream's hooks) ----------------------------

    def body_received(self, data: bytes) -> None:
        session = self.session
        if self.over or session is None:
            self.body_consumed(len(data))
            return
        session.data_received(data)
        if self.reading_paused:
            self.held += len(data)
        else:
            self.body_consumed(len(data))

    def end_received(self) -> None:
        """The client's END_STREAM: its side of the WebSocket closed, as TCP's FIN."""
        self.request_ended = True
        session = self.session
        if session is None or self.over:
            return
        if session.handshake_done():
            session.eof_received()
            if not self.ended and session.accepted():
                self.close()
            self.settle()
        else:
            # Gone before the app answered: no WebSocket can open on a closed side.
            self.abort()

    def window_opened(self) -> None:
        super().window_opened()
        self.settle()

    def client_gone(self) -> None:
        self.ended = True
        self.pending = []
        self._unblocked()
        self._finish()

    def shutdown(self) -> None:
        if self.session is not None and not self.over:
            self.session.shutdown()

    def _window_timeout(self) -> None:
        super()._window_timeout()
        self._finish()

    # -- the end of the stream ----------------------------------------------------

    def settle(self) -> None:
        """Once hurtle's END_STREAM is out, the stream is over (RFC 9113 section 8.1)."""
        if not self.ended or self.over:
            return
        if not self.request_ended:
            self.connection.wire.reset(self.stream_id, _NO_ERROR)
            self.connection.output_ready()
        self._finish()

    def _finish(self) -> None:
        if self.over:
            return
        self.over = True
        self.pending = []
        self._unblocked()
        session = self.session
        if session is not None:
            session.connection_lost(None)
        if self.app_done or session is None:
            self.connection.stream_done(self)

    def app_finished(self) -> None:
        self.app_done = True
        if self.over:
            self.connection.stream_done(self)


class H2Connection(WriteBackpressure):
    """One HTTP/2 connection: the protocol of a transport handed over from HTTP/1.1."""

    def __init__(self, state: ServerState, info: ConnectionInfo) -> None:
        self.state = state
        self.loop = state.loop
        self.client = info.client
        self.server = info.server
        self.scheme = info.scheme
        self.extensions = info.extensions
        self.http_extensions = http_extensions(info.extensions)
        self.forwarded = info.forwarded
        self.info = info
        # RFC 8441 section 3: extended CONNECT is offered when WebSockets are on.
        self.wire = H2Wire(state.h2_settings, enable_connect_protocol=state.ws_enabled)
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, H2Stream] = {}
        self._requests = 0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._flush_pending = False
        self._closing = False
        self._lost = False
        self._write_timer: asyncio.TimerHandle | None = None

    # -- taking the transport over -------------------------------------------------

    def start(self, transport: asyncio.Transport, data: bytes) -> None:
        """Serve HTTP/2 on `transport`, whose first bytes (the preface on) are `data`."""
        self._take(transport)
        self.wire.start()
        self.output_ready()
        if data:
            self.data_received(data)
        self._check_idle()

    def start_upgraded(
        self,
        transport: asyncio.Transport,
        http2_settings: bytes,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        data: bytes,
    ) -> None:
        """Serve HTTP/2 after `101 Switching Protocols` to h2c: the request that asked
        for it is stream 1, and its response goes there (RFC 7540 section 3.2)."""
        self._take(transport)
        self.wire.start_upgraded(http2_settings)
        self.output_ready()
        self._open_stream(1, method, target, headers)
        stream = self.streams.get(1)
        if stream is not None and stream.cycle is not None:
            stream.request_ended = True
            stream.cycle.feed_end()
        if data:
            self.data_received(data)

    def _take(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.set_protocol(cast(asyncio.Protocol, self))
        self.state.connections.add(self)

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Not called: the transport is handed over (`start`)."""

    def data_received(self, data: bytes) -> None:
        metrics = self.state.metrics
        if metrics is not None:
            metrics.h2_received += len(data)
        events = self.wire.feed(data)
        if events:
            self._dispatch(events)
        self.output_ready()

    def eof_received(self) -> bool:
        return False  # The client has gone (net/connection.py says why EOF means that).

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.state.connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._writing_resumed()
        for stream in list(self.streams.values()):
            stream.client_gone()
        self._release_writer()

    # -- write backpressure (WriteBackpressure's hooks) -------------------------------

    def _writing_paused(self) -> None:
        # A client that does not read its socket: stop reading it too, so
        # that what hurtle answers by itself (PING and SETTINGS ACKs,
        # RST_STREAM) cannot pile up unread; after --timeout-write, give up.
        transport = self.transport
        if self._write_timer is None and transport is not None:
            transport.pause_reading()
            self._write_timer = self.loop.call_later(
                self.state.config.timeout_write, self._on_write_timeout
            )

    def _writing_resumed(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
            transport = self.transport
            if transport is not None and not self._lost:
                transport.resume_reading()

    def _on_write_timeout(self) -> None:
        self._write_timer = None
        error_log.info(
            "closing HTTP/2 connection from %s: it read nothing for %.0fs",
            describe_client(self.client, "unix socket"),
            self.state.config.timeout_write,
        )
        self.abort()

    # -- events ------------------------------------------------------------------------

    def _dispatch(self, events: list[H2Event]) -> None:
        # Streams the client opened and reset within this read: no app starts.
        reset_now = {event.stream_id for event in events if type(event) is StreamReset}
        for event in events:
            kind = type(event)
            stream = self.streams.get(event.stream_id)
            if kind is BodyReceived:
                assert isinstance(event, BodyReceived)
                if stream is not None:
                    stream.body_received(event.data)
                else:
                    self.wire.body_consumed(event.stream_id, len(event.data))
            elif kind is RequestReceived:
                assert isinstance(event, RequestReceived)
                if event.stream_id in reset_now:
                    continue
                if event.protocol is not None:
                    self._extended_connect(event)
                    continue
                self._open_stream(event.stream_id, event.method, event.target, event.headers)
            elif kind is RequestEnded:
                if stream is not None:
                    stream.end_received()
            elif kind is StreamReset:
                if stream is not None:
                    stream.client_gone()
            elif kind is WindowOpened:
                if event.stream_id == 0:
                    for each in list(self.streams.values()):
                        if each.pending:
                            each.window_opened()
                elif stream is not None and stream.pending:
                    stream.window_opened()
            elif kind is RequestRejected:
                assert isinstance(event, RequestRejected)
                self._rejected(event, stream)
            else:
                assert isinstance(event, ConnectionEnded)
                self._ended(event)
                return

    def _open_stream(
        self, stream_id: int, method: str, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        # Streams after the final GOAWAY never get here: H2Wire refuses them.
        state = self.state
        scope = http_scope(
            method,
            target,
            "2",
            headers,
            self.client,
            self.server,
            self.scheme,
            state.root_path,
            state.lifespan_state,
            self.http_extensions,
            self.forwarded,
        )
        stream = H2Stream(self, stream_id, method)
        cycle = HTTPCycle(
            scope,
            stream,
            _expects_continue(headers),
            perf_counter() if state.timed else 0.0,
        )
        stream.cycle = cycle
        self.streams[stream_id] = stream
        app = state.app_for_request()
        cycle.task = state.start_app(cycle.run(app), eagerly=False)
        self.request_started()

    def request_started(self) -> None:
        """A stream was opened for a request or a WebSocket: count it."""
        self._requests += 1
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        limit = self.state.config.limit_requests_per_connection
        if limit is not None and self._requests >= limit:
            self.shutdown()  # This was the last: GOAWAY, then close when done.

    def _extended_connect(self, event: RequestReceived) -> None:
        """RFC 8441: a CONNECT with :protocol. H2Wire lets one through only when
        SETTINGS_ENABLE_CONNECT_PROTOCOL was announced, that is with WebSockets on."""
        if event.protocol != "websocket":
            self._answer(event.stream_id, 501, f"Protocol {event.protocol!r} is not supported")
            return
        if event.ended:
            # The client ended its side with the request: nothing could flow.
            self._answer(event.stream_id, 400, "A WebSocket needs an open stream")
            return
        # Imported at the first WebSocket, as on HTTP/1.1 (net/connection.py says why).
        from hurtle.net.h2_websocket import open_websocket

        stream = H2WebSocketStream(self, event.stream_id)
        self.streams[event.stream_id] = stream
        self.request_started()
        stream.session = open_websocket(self.state, stream, event.target, event.headers, self.info)

    def _rejected(self, event: RequestRejected, stream: H2Stream | None) -> None:
        error_log.info(
            "rejected HTTP/2 request from %s: %d %s",
            describe_client(self.client, "unix socket"),
            event.status,
            log_safe(event.reason),
        )
        metrics = self.state.metrics
        if metrics is not None:
            metrics.reject(str(event.status))
        if stream is None:
            self._answer(event.stream_id, event.status, event.reason)
            return
        cycle = stream.cycle
        if cycle is not None and not cycle.head_sent and not stream.ended:
            cycle.feed_disconnect()  # Its app must stop: the request is refused.
            self._answer(event.stream_id, event.status, event.reason)
            stream.ended = True
        else:
            stream.reset(_CANCEL)
            if cycle is not None:
                cycle.feed_disconnect()

    def _answer(self, stream_id: int, status: int, reason: str) -> None:
        """hurtle's own plain-text answer on a stream, then the stream is done with."""
        body = reason.encode("ascii", "replace") + b"\n"
        fields = self.state.default_fields(PLAIN_TEXT.names)
        fields.extend(PLAIN_TEXT.pairs)
        fields.append((b"content-length", b"%d" % len(body)))
        wire = self.wire
        wire.send_headers(stream_id, status, fields, False)
        if wire.send_data(stream_id, body, True) < len(body):
            wire.reset(stream_id, _NO_ERROR)
        if wire.stream_open(stream_id):
            # The client may still be sending its request: it need not (RFC 9113 8.1).
            wire.reset(stream_id, _NO_ERROR)
        self.output_ready()

    def _ended(self, event: ConnectionEnded) -> None:
        if event.reason:
            metrics = self.state.metrics
            if metrics is not None:
                # hurtle ended the connection: a flood (RFC 9113 section 10.5) or an error.
                flood = event.error_code == _ENHANCE_YOUR_CALM
                metrics.reject("h2_flood" if flood else "h2_protocol_error")
            error_log.info(
                "closing HTTP/2 connection from %s: %s",
                describe_client(self.client, "unix socket"),
                log_safe(event.reason),
            )
        for stream in list(self.streams.values()):
            stream.client_gone()
        self.flush()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if event.reason and transport.can_write_eof():
            # RFC 9113 section 5.4.1: the GOAWAY must reach a client that is
            # still sending; closing with its input unread would make the
            # kernel send a reset that can destroy the GOAWAY before it is
            # read. So: FIN after it, drop what still comes (the wire is
            # closed), close when the client does or after a short while.
            transport.write_eof()
            self.loop.call_later(_LINGER, transport.close)
        else:
            transport.close()

    def stream_done(self, stream: H2Stream) -> None:
        """The stream's app returned: forget it once its response has gone too."""
        self.streams.pop(stream.stream_id, None)
        self._check_idle()

    # -- output ------------------------------------------------------------------------

    def output_ready(self) -> None:
        """The wire has bytes to send: write them at the end of this turn of the loop."""
        if not self._flush_pending:
            self._flush_pending = True
            self.state.flush_soon(self)

    def flush(self) -> None:
        self._flush_pending = False
        pieces = self.wire.outgoing_pieces()
        transport = self.transport
        if pieces and transport is not None and not transport.is_closing():
            if len(pieces) == 1:
                transport.write(pieces[0])
            else:
                # A response body's payloads, unjoined: uvloop writes them with
                # one writev and keeps what the socket did not take, uncopied.
                transport.writelines(pieces)
            metrics = self.state.metrics
            if metrics is not None:
                sent = 0
                for piece in pieces:
                    sent += len(piece)
                metrics.h2_sent += sent

    # -- closing --------------------------------------------------------------------

    def _check_idle(self) -> None:
        if self.streams or self._lost:
            return
        if self._closing:
            self._close()
        elif self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.state.keep_alive_timeout, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        if not self.streams:
            self._close()

    def _close(self) -> None:
        self.wire.close(_NO_ERROR)
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def shutdown(self) -> None:
        """Graceful: GOAWAY, finish the streams in flight, then close (RFC 9113 6.8)."""
        if self._closing:
            return
        self._closing = True
        for stream in list(self.streams.values()):
            stream.shutdown()  # A WebSocket's: close frame 1012.
        self.wire.announce_shutdown()
        self.output_ready()
        self.loop.call_later(_GOAWAY_GRACE, self._final_goaway)

    def _final_goaway(self) -> None:
        if self._lost:
            return
        self.wire.finish_shutdown()
        self.output_ready()
        self._check_idle()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _expects_continue(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"expect":
            return value.lower() == b"100-continue"
    return False
