"""The asyncio side of an HTTP/1.1 connection: drives H1Parser and the ASGI cycles.

Theory of operation
-------------------
`data_received` feeds the parser and dispatches its events. A request head
starts an `HTTPCycle` (asgi/http.py) whose app runs in a task; body events
go to the cycle that is reading (`self.reading`). The cycle whose response
is being written is `self.responding`; usually the two are the same cycle.

Pipelining (RFC 9112 section 9.3.2): a request head that arrives while a
response is still in progress is queued with everything after it, and
reading pauses; when the response ends, the queue is replayed in order.

Backpressure: reading pauses while a cycle holds more than BODY_HIGH_WATER
unread body bytes; the cycle resumes it when the app reads. Writing: asyncio
calls pause_writing/resume_writing around the transport's high-water mark,
and the app's `send` waits on `write_paused()` in between.

Keep-alive: after a response the connection waits `timeout_keep_alive`
seconds for the next request, then closes. It closes at once after a
response that cannot be followed by another (Connection: close, HTTP/1.0
without keep-alive, a framing error, graceful shutdown).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine
from time import perf_counter
from typing import Any, cast

from hurtle.asgi.http import HTTPCycle
from hurtle.asgi.http_core import PLAIN_TEXT, HTTPCycleCore
from hurtle.asgi.proxy_headers import ProxySettings
from hurtle.asgi.scope import http_extensions, http_scope, websocket_scope
from hurtle.logs import describe_client, error_log, log_safe
from hurtle.net.connection_info import ConnectionInfo
from hurtle.net.state import ServerState
from hurtle.net.write_backpressure import WriteBackpressure
from hurtle.net.zero_copy import send_unframed
from hurtle.wire.h1 import (
    BodyReceived,
    Event,
    H1Parser,
    H1Response,
    RequestEnded,
    RequestReceived,
    RequestRejected,
    early_hints,
)
from hurtle.wire.headers import ResponseHeaders

__all__ = ["H1Connection"]


_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_LINGER = 2.0  # Seconds to drain a client's input after an error response.
# Output queued in one turn of the loop goes out at its end (ServerState.flush_soon),
# or at once when this much is waiting: memory stays bounded and write
# backpressure still reaches an app whose `send` never yields. On loopback a
# write costs about the same whether it carries 64 KiB or 512 KiB (the kernel's
# per-write TCP work dominates), so a streamed response in 64 KiB pieces goes out
# in 512 KiB writes; larger writes measured no faster (docs/performance.md,
# "What changed", item 5, has the figures). Large pieces are queued by
# reference, not copied.
_COALESCE = 524288
# A piece of body this large is written at once and apart from its framing:
# copying it into one buffer with its chunk header would cost more than the
# scatter-gather write (writelines) that sends the pieces.
_ZERO_COPY = 16384


class H1Connection(WriteBackpressure):
    # An asyncio protocol by its methods (asyncio and uvloop call them by
    # name), not by inheriting asyncio.Protocol: setup.py compiles this module
    # with mypyc, whose native classes cannot inherit from interpreted ones.
    def __init__(self, state: ServerState, info: ConnectionInfo | None = None) -> None:
        self.state = state
        # The connection's facts when someone else learnt them (the PROXY
        # protocol reader, net/proxy.py); else read from the transport.
        self.info = info
        self.loop = state.loop
        self.transport: asyncio.Transport | None = None
        self.parser = H1Parser(state.limits)
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int | None] | None = None
        self.scheme = "http"
        self.extensions: dict[str, Any] = {}
        self.http_extensions: dict[str, Any] = {}
        # Set when the peer is a trusted proxy and --proxy-headers is on.
        self.forwarded: ProxySettings | None = None
        # Typed as the compiled core, so that the compiled code here reaches
        # the cycle's state and methods directly (asgi/http_core.py).
        self.reading: HTTPCycleCore | None = None
        self.responding: HTTPCycleCore | None = None
        self.response: H1Response | None = None
        self._request: RequestReceived | None = None
        self._queue: deque[Event] | None = None
        self._read_paused = False
        # Keep-alive (RFC 9112 section 9.3): when the connection last became
        # idle (None while a request is in progress), and one timer that
        # compares against it when it fires. No timer is cancelled and re-armed
        # per request: that would be two timer-heap operations each time.
        self._idle_since: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        # Timeouts against slow clients (docs/security.md): the head being read
        # (its parser id, so a new head restarts the clock), a stalled body, a
        # client that does not read what it asked for.
        self._header_timer: asyncio.TimerHandle | None = None
        self._timed_head: int | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_activity = 0.0
        self._write_timer: asyncio.TimerHandle | None = None
        # A file being sent by the kernel (net/zero_copy.py), while it is.
        self._file_task: asyncio.Task[int] | None = None
        self._requests = 0
        self._output: list[bytes] = []
        self._output_size = 0
        self._gather_writes = True
        self._lingering = False
        self._closing = False
        self._replaying = False  # Dispatching requests that waited in the pipeline queue.
        # The connection's first bytes, until they tell HTTP/1.1 from the
        # HTTP/2 preface; None once they did (or HTTP/2 is off).
        self._first_bytes: bytes | None = b"" if state.h2_enabled else None

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        # asyncio's plain TCP transport (selector_events) on Python 3.12 and
        # 3.13.0 buffers what writelines() cannot send without ever pausing the
        # protocol, so backpressure would be lost: pieces go one write each there.
        self._gather_writes = type(transport).__module__ != "asyncio.selector_events"
        self.state.connections.add(self)
        info = self.info
        if info is None:
            info = ConnectionInfo.of_transport(transport, self.state.proxy)
        self.client = info.client
        self.server = info.server
        self.scheme = info.scheme
        self.extensions = info.extensions
        self.http_extensions = http_extensions(info.extensions)
        self.forwarded = info.forwarded
        if info.alpn == "h2" and self.state.h2_enabled:
            self._start_h2(b"")  # TLS negotiated HTTP/2 (RFC 9113 section 3.2).
            return
        self._arm_idle_timer()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # After an error response: dropped (see _linger_close).
        if self._first_bytes is not None:
            data = self._first_bytes + data
            if self._sniff_h2(data):
                return  # HTTP/2 counts what it was handed.
        metrics = self.state.metrics
        if metrics is not None:
            metrics.h1_received += len(data)
        self._idle_since = None
        parser = self.parser
        self._dispatch(parser.feed(data))
        head = parser.head_id
        if head != self._timed_head:
            self._time_head(head)
        if self.reading is not None:
            self._body_activity = self.loop.time()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(
                    self.state.config.timeout_request_body, self._on_body_timeout
                )

    def eof_received(self) -> bool:
        """The client closed its side: treated as the client gone (False closes ours too).

        A FIN cannot be told apart from a client that closed its socket
        altogether until a write to it fails, and apps waiting for
        `http.disconnect` (server-sent events, long polls) must hear of it at
        once, as they do under the other ASGI servers; a client that
        half-closes after its request is rare in HTTP/1.1 (RFC 9112 section
        9.6 has the closing side stop sending, not stop reading, but gives no
        way to tell). asyncio calls this by name (the class is compiled and
        does not inherit asyncio.Protocol's default).
        """
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        for timer in (self._idle_timer, self._header_timer, self._body_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._header_timer = self._body_timer = self._write_timer = None
        for cycle in (self.reading, self.responding):
            if cycle is not None:
                cycle.feed_disconnect()
        self._queue = None
        self._output = []
        self._output_size = 0
        self._release_writer()
        if self._file_task is not None:
            self._file_task.cancel()  # It may be waiting for the socket to take more.
            self._file_task = None

    def _writing_paused(self) -> None:
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(
                self.state.config.timeout_write, self._on_write_timeout
            )

    def _writing_resumed(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    # -- request events ------------------------------------------------------

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if self._queue is not None:
                self._queue.append(event)
                continue
            kind = type(event)
            if kind is BodyReceived:
                assert self.reading is not None and isinstance(event, BodyReceived)
                if self.reading.feed_body(event.data):
                    self._pause_reading()
            elif kind is RequestReceived:
                assert isinstance(event, RequestReceived)
                if self.responding is not None:
                    # Pipelined behind a response still being written.
                    self._queue = deque([event])
                    self._pause_reading()
                elif event.upgrade is not None and self._upgrade(event):
                    return  # The transport belongs to another protocol now.
                else:
                    self._start_cycle(event)
            elif kind is RequestEnded:
                cycle = self.reading
                assert cycle is not None
                self.reading = None
                if self._body_timer is not None:
                    self._body_timer.cancel()
                    self._body_timer = None
                cycle.feed_end()
                if self.responding is None:
                    self._after_response()
            else:
                assert isinstance(event, RequestRejected)
                if self.responding is not None and self.responding is not self.reading:
                    self._queue = deque([event])
                    self._pause_reading()
                else:
                    self._reject(event)

    def _start_cycle(self, event: RequestReceived) -> None:
        state = self.state
        scope = http_scope(
            event.method,
            event.target,
            event.http_version,
            event.headers,
            self.client,
            self.server,
            self.scheme,
            state.root_path,
            state.lifespan_state,
            self.http_extensions,
            self.forwarded,
        )
        cycle = HTTPCycle(
            scope,
            self,
            event.expect_continue,
            perf_counter() if state.timed else 0.0,
        )
        self.reading = self.responding = cycle
        self._request = event
        self._requests += 1
        app = state.app_for_request()
        # Pipelined requests, replayed as the response before them ends, start
        # eagerly: a burst of them is answered in this turn of the loop, not
        # one per turn. A request read from the socket gets a task that runs
        # after this turn's reads: measured faster for frameworks
        # (docs/performance.md, "Eager start").
        cycle.task = state.start_app(cycle.run(app), self._replaying)

    def _upgrade(self, event: RequestReceived) -> bool:
        """Switch protocols if the request asks for one hurtle speaks (RFC 9110 7.8)."""
        state = self.state
        if state.ws_enabled and _is_websocket(event):
            self._upgrade_to_websocket(event)
            return True
        if state.h2_enabled and self.scheme == "http" and _is_h2c(event):
            settings = _h2c_settings(event)
            if settings is not None:
                self._upgrade_to_h2c(event, settings)
                return True
        return False  # Served over HTTP/1.1: a server may ignore Upgrade.

    def _sniff_h2(self, data: bytes) -> bool:
        """Whether the connection starts with the HTTP/2 preface (prior knowledge, RFC 9113
        section 3.3); True when `data` was taken: handed to HTTP/2, or kept to see more."""
        from hurtle.wire.h2_frames import CONNECTION_PREFACE as PREFACE

        if data[:24] == PREFACE:
            self._first_bytes = None
            self._start_h2(data)
            return True
        if len(data) < 24 and PREFACE.startswith(data):
            self._first_bytes = data  # A preface cut short: wait for the rest.
            return True
        self._first_bytes = None
        return False

    def _start_h2(self, data: bytes) -> None:
        """Hand the transport to an HTTP/2 connection; `data` is what came so far."""
        # Imported at the first HTTP/2 connection: h2 and its HPACK tables are
        # memory that a server that never sees HTTP/2 does not need.
        from hurtle.net.h2 import H2Connection

        transport = self.transport
        assert transport is not None
        self._leave()
        connection = H2Connection(self.state, self._info())
        connection.start(transport, data)

    def _upgrade_to_h2c(self, event: RequestReceived, settings: bytes) -> None:
        """Answer `Upgrade: h2c` with 101 and serve the request as stream 1 (RFC 7540 3.2)."""
        from hurtle.net.h2 import H2Connection

        transport = self.transport
        assert transport is not None
        self.flush()  # Responses to requests pipelined before the upgrade.
        self._leave()
        transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: h2c\r\n\r\n"
        )
        headers = [(name, value) for name, value in event.headers if name not in _H2C_HOP_BY_HOP]
        connection = H2Connection(self.state, self._info())
        connection.start_upgraded(
            transport, settings, event.method, event.target, headers, self.parser.upgrade_data
        )

    def _info(self) -> ConnectionInfo:
        return ConnectionInfo(
            self.client, self.server, self.scheme, self.extensions, self.forwarded
        )

    def _leave(self) -> None:
        """This protocol hands its transport to another: stop its timers, let it go."""
        for timer in (self._idle_timer, self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._header_timer = self._body_timer = None
        self.state.connections.discard(self)
        self.reading = self.responding = None
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    def _upgrade_to_websocket(self, event: RequestReceived) -> None:
        """Hand the transport to a WebSocketConnection (RFC 6455 section 4)."""
        # Imported at the first upgrade, not at start: the websockets library
        # is about 4 MiB of a worker's memory (docs/performance.md), which a
        # worker that never sees a WebSocket does not need.
        from hurtle.net.websocket import WebSocketConnection
        from hurtle.wire.ws import parse_subprotocols

        state = self.state
        transport = self.transport
        assert transport is not None
        scope = websocket_scope(
            event.target,
            event.http_version,
            event.headers,
            parse_subprotocols(event.headers),
            self.client,
            self.server,
            self.scheme,
            state.root_path,
            state.lifespan_state,
            self.extensions,
            self.forwarded,
        )
        self.flush()  # Responses to requests pipelined before the upgrade.
        self._leave()
        websocket = WebSocketConnection(state, transport, event, scope, self.parser.upgrade_data)
        transport.set_protocol(websocket)
        websocket.start()

    def _reject(self, event: RequestRejected) -> None:
        """Answer a request that is not acceptable HTTP, then close (RFC 9112 section 2.2)."""
        cycle = self.responding
        if cycle is not None:
            if cycle.head_sent:
                self._close()
                return
            cycle.feed_disconnect()  # Its app must stop: this connection is done.
        error_log.info(
            "rejected request from %s: %d %s",
            describe_client(self.client, "unix socket"),
            event.status,
            log_safe(event.reason),
        )
        metrics = self.state.metrics
        if metrics is not None:
            metrics.reject(str(event.status))
        response = H1Response(event.status, PLAIN_TEXT, "GET", keep_alive=False)
        body = event.reason.encode("ascii", "replace") + b"\n"
        self._write(
            response.head(body, False, "1.1", self.state.default_block) + response.body(body, False)
        )
        self.reading = self.responding = self.response = None
        self._linger_close()

    def _linger_close(self) -> None:
        """Close after an error response without losing it (RFC 9112 section 9.6).

        Closing a socket with unread input makes the kernel send a reset, and
        a reset can destroy the response before the client reads it. So: send
        FIN after the response, read and drop what the client still sends, and
        close when it closes too, or after _LINGER seconds.
        """
        transport = self.transport
        assert transport is not None
        self.flush()
        self._lingering = True
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(_LINGER, self._close)
        else:
            self._close()

    # -- ResponseStream, for the cycle ----------------------------------------

    def send_continue(self) -> None:
        self._write(_CONTINUE)

    def send_early_hint(self, links: ResponseHeaders) -> None:
        request = self._request
        # RFC 9110 section 15.2: no 1xx to an HTTP/1.0 client; nothing to say without links.
        if request is not None and request.http_version == "1.1" and links.lines:
            self._write(early_hints(links))

    def send_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> asyncio.Future[None] | None:
        request = self._request
        assert request is not None
        limit = self.state.config.limit_requests_per_connection
        keep_alive = (
            request.keep_alive
            and not self.parser.upgraded
            and not self._closing
            and not self.state.shutting_down
            and (limit is None or self._requests < limit)
        )
        response = self.response = H1Response(status, headers, request.method, keep_alive)
        head = response.head(
            body,
            more_body,
            request.http_version,
            self.state.defaults_without(response.header_names),
        )
        return self._send(response, head, body, more_body)

    def send_body(self, body: bytes, more_body: bool) -> asyncio.Future[None] | None:
        response = self.response
        assert response is not None
        return self._send(response, b"", body, more_body)

    def _send(
        self, response: H1Response, head: bytes, body: bytes, more_body: bool
    ) -> asyncio.Future[None] | None:
        prefix, data, suffix = response.frame(body, more_body)
        if len(data) >= _ZERO_COPY:
            # Queued apart from its framing, by reference: flush() sends the
            # pieces with one scatter-gather write instead of copying them.
            if head or prefix:
                self._write(head + prefix)
            self._write(data)
            if suffix:
                self._write(suffix)
        else:
            piece = head + prefix + data + suffix  # Adding b"" copies nothing.
            if piece:
                self._write(piece)
        if response.mismatch is not None:
            error_log.error("ASGI app sent a %s; closing the connection", response.mismatch)
            response.mismatch = None
            if response.ended:
                self._close()
                return None
        if not more_body:
            self._response_finished(response)
        waiter = self._write_waiter  # write_paused(), inline: this is once per body message.
        return waiter if waiter is not None and not waiter.done() else None

    def send_trailers(self, trailers: ResponseHeaders) -> asyncio.Future[None] | None:
        response = self.response
        request = self._request
        assert response is not None and request is not None
        # RFC 9110 section 10.1.4: trailers only to a client that said it takes
        # them; for the others they are dropped, as asgiref's extension allows.
        lines = trailers.lines if _accepts_trailers(request.headers) else ()
        piece = response.trailers(lines)
        if piece:
            self._write(piece)
        if response.mismatch is not None:
            error_log.error("ASGI app sent a %s; closing the connection", response.mismatch)
            response.mismatch = None
        self._response_finished(response)
        waiter = self._write_waiter
        return waiter if waiter is not None and not waiter.done() else None

    def _write(self, data: bytes) -> None:
        """Queue output for the end of this turn of the loop (ServerState.flush_soon)."""
        output = self._output
        if not output:
            self.state.flush_soon(self)
        output.append(data)
        self._output_size += len(data)
        if self._output_size >= _COALESCE:
            self.flush()

    def flush(self) -> None:
        output = self._output
        if output:
            self._output = []
            size = self._output_size
            self._output_size = 0
            transport = self.transport
            if transport is None or transport.is_closing():
                return
            metrics = self.state.metrics
            if metrics is not None:
                metrics.h1_sent += size
            if len(output) == 1:
                transport.write(output[0])
            elif size < _ZERO_COPY:
                transport.write(b"".join(output))
            elif self._gather_writes:
                transport.writelines(output)  # One scatter-gather write, nothing copied.
            else:
                for data in output:
                    transport.write(data)

    def send_file(self, fd: int, offset: int, count: int) -> asyncio.Future[int] | None:
        response = self.response
        transport = self.transport
        if response is None or transport is None or transport.is_closing():
            return None
        if transport.get_extra_info("ssl_object") is not None:
            return None  # TLS encrypts in user space: the file is read in pieces.
        size = response.unframed(count)
        if size is None:
            return None  # Chunked or close-delimited: framed pieces (asgi/file_body.py).
        done: asyncio.Future[int]
        if size == 0:
            done = self.loop.create_future()
            done.set_result(count)  # Nothing may go out (HEAD, or no length left).
            return done
        # What the file held beyond the declared length counts as sent:
        # unframed() cut it, and the mismatch is logged with the last body.
        sending = send_unframed(self, transport, fd, offset, size)
        task = self.loop.create_task(_plus(sending, count - size) if count > size else sending)
        self._file_task = task
        return task

    def body_consumed(self, size: int) -> None:
        # One request body is read at a time: whatever the app took, reading
        # may go on (it paused at BODY_HIGH_WATER, asgi/http_core.py).
        self.resume_reading()

    def resume_reading(self) -> None:
        if self._read_paused and self._queue is None:
            self._read_paused = False
            if self.transport is not None:
                self.transport.resume_reading()

    def response_failed(self) -> None:
        self._close()

    def cycle_finished(self, cycle: HTTPCycleCore) -> None:
        state = self.state
        state.request_finished(cycle.task)
        metrics = state.metrics
        if metrics is not None:
            state.count_request(cycle, metrics)
        if cycle is self.responding and not cycle.response_complete:
            # The app ended without a complete response (the cycle logged why).
            self.responding = None
            self._close()

    # -- after a response ----------------------------------------------------

    def _response_finished(self, response: H1Response) -> None:
        self.responding = None
        self.response = None
        if not response.keep_alive or self._closing:
            self._close()
            return
        self._after_response()

    def _after_response(self) -> None:
        """The response is written: go on with queued requests, or wait for the next."""
        queue = self._queue
        if queue is not None:
            self._queue = None
            self._replaying = True
            try:
                self._dispatch(list(queue))
            finally:
                self._replaying = False
        if self._queue is None and self._read_paused:
            reading = self.reading
            # Reading paused for the queue; it stays paused only while the
            # cycle now reading holds too much unread body (backpressure).
            if reading is None or reading.response_complete or not reading.body_buffer_full:
                self.resume_reading()
        if self.responding is None and self.reading is None:
            if self._closing:
                self._close()
            else:
                self._arm_idle_timer()

    def _time_head(self, head: int | None) -> None:
        """Start the header clock for a new head, or stop it (RFC 9112 section 9.5)."""
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._timed_head = head
        if head is not None:
            self._header_timer = self.loop.call_later(
                self.state.config.timeout_request_header, self._on_header_timeout
            )

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.responding is not None:
            # A pipelined head waits behind a response; its client is not slow.
            self._time_head(self._timed_head)
            return
        self.parser.stopped = True
        self._reject(RequestRejected(408, "Request timeout: the headers took too long"))

    def _on_body_timeout(self) -> None:
        self._body_timer = None
        cycle = self.reading
        if cycle is None:
            return
        timeout = self.state.config.timeout_request_body
        idle = self.loop.time() - self._body_activity
        if self._read_paused or idle < timeout:
            # Paused: the app is not reading, so the client cannot be stalling.
            remaining = timeout if self._read_paused else timeout - idle
            self._body_timer = self.loop.call_later(remaining, self._on_body_timeout)
            return
        error_log.info(
            "closing connection from %s: request body stalled for %.0fs",
            describe_client(self.client, "unix socket"),
            timeout,
        )
        self.parser.stopped = True
        if cycle.head_sent:
            cycle.feed_disconnect()
            self._close()
        else:
            self._reject(RequestRejected(408, "Request timeout: the body stalled"))

    def _on_write_timeout(self) -> None:
        self._write_timer = None
        error_log.info(
            "closing connection from %s: it read nothing for %.0fs",
            describe_client(self.client, "unix socket"),
            self.state.config.timeout_write,
        )
        self.abort()

    def _arm_idle_timer(self) -> None:
        """The connection is idle from now: close it after the keep-alive timeout."""
        loop = self.loop
        self._idle_since = loop.time()
        if self._idle_timer is None:
            self._idle_timer = loop.call_later(self.state.keep_alive_timeout, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        since = self._idle_since
        if since is None or self.responding is not None or self.reading is not None:
            return  # Busy: _arm_idle_timer starts the clock again when it is idle.
        remaining = since + self.state.keep_alive_timeout - self.loop.time()
        if remaining > 0:
            self._idle_timer = self.loop.call_later(remaining, self._on_idle)
        else:
            self._close()

    def _pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def _close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.flush()
            transport.close()

    # -- server control ------------------------------------------------------

    def shutdown(self) -> None:
        """Graceful: close now if idle, else after the response in progress."""
        self._closing = True
        if self.responding is None and self.reading is None:
            self._close()

    def abort(self) -> None:
        self._output = []
        self._output_size = 0
        if self.transport is not None:
            self.transport.abort()


async def _plus(sending: Coroutine[Any, Any, int], extra: int) -> int:
    """What `sending` sent, plus `extra` bytes counted as sent."""
    return await sending + extra


# Fields of the upgrade request that belong to the HTTP/1.1 hop, not to the
# request stream 1 carries (RFC 9113 section 8.2.2).
_H2C_HOP_BY_HOP = frozenset(
    [
        b"connection",
        b"upgrade",
        b"http2-settings",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
    ]
)


def _is_h2c(event: RequestReceived) -> bool:
    assert event.upgrade is not None
    return any(p.strip().lower() == b"h2c" for p in event.upgrade.split(b","))


def _h2c_settings(event: RequestReceived) -> bytes | None:
    """The HTTP2-Settings of an h2c upgrade that hurtle can take, else None.

    RFC 7540 section 3.2: exactly one HTTP2-Settings field, named in
    Connection. Only a request without a body is upgraded: one with a body
    would have to be read whole over HTTP/1.1 first; it is served as it is.
    """
    settings: list[bytes] = []
    named = False
    for name, value in event.headers:
        if name == b"http2-settings":
            settings.append(value)
        elif name == b"connection":
            named = named or any(
                token.strip().lower() == b"http2-settings" for token in value.split(b",")
            )
        elif name == b"content-length":
            if value.strip() != b"0":
                return None
        elif name == b"transfer-encoding":
            return None
    if len(settings) != 1 or not named:
        return None
    return settings[0]


def _accepts_trailers(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request's TE field lists `trailers` (RFC 9110 section 10.1.4)."""
    for name, value in headers:
        if name == b"te" and any(
            coding.split(b";")[0].strip().lower() == b"trailers" for coding in value.split(b",")
        ):
            return True
    return False


def _is_websocket(event: RequestReceived) -> bool:
    assert event.upgrade is not None
    return any(p.strip().lower() == b"websocket" for p in event.upgrade.split(b","))
