"""HTTP/2 (RFC 9113) for one connection, sans-I/O, on the `h2` library.

Theory of operation
-------------------
`H2Wire` wraps h2's server-side `H2Connection`: `feed(bytes)` returns
hurtle's own events (past tense, like wire/h1.py's), and `outgoing()` the
bytes to write. h2 does the framing, HPACK, the stream states, flow-control
bookkeeping and the validation of every header block (pseudo-headers,
upper-case names, connection-specific fields, CR/LF/NUL; RFC 9113 section
8.2); this module adds what makes a request an ASGI request and what
defends a server:

- a request's `:authority` becomes its Host header and its cookie fields
  are joined with "; " (RFC 9113 sections 8.3.1 and 8.2.3);
- the limits of HTTP/1.1 keep their meaning: header count (431) and body
  size (413, or a reset once the response is under way);
- request body is credit: `body_consumed(stream, n)` hands n bytes of window
  back (WINDOW_UPDATE), so a stream whose app does not read stops its own
  client and no other;
- responses honour the peer's windows: `send_data` sends what the windows
  allow and returns the rest, which the caller keeps until WindowOpened;
- graceful shutdown in two GOAWAYs (RFC 9113 section 6.8): the first with
  the largest stream id, the second with the last stream processed; later
  streams are refused (REFUSED_STREAM), so the client may retry them
  elsewhere;
- defences (docs/security.md): a stream reset by the client before its
  request was dispatched starts no app (the caller drops requests reset in
  the same read); resets of unfinished streams spend a budget that finished
  responses refill, and an empty budget ends the connection with GOAWAY
  ENHANCE_YOUR_CALM (CVE-2023-44487, "rapid reset"); likewise frames that
  make no progress (PING, SETTINGS, PRIORITY, WINDOW_UPDATE, empty DATA,
  unknown frames): a flood of them is answered the same way. CONTINUATION
  floods are bounded by h2 (64 frames a header block) and the decoded header
  list by MAX_HEADER_LIST_SIZE, which h2's HPACK decoder enforces.

The GOAWAYs of a graceful shutdown are written here, not through
`H2Connection.close_connection`, which puts h2's state machine in CLOSED,
where the responses still in flight could not be sent.
"""

from __future__ import annotations

from collections.abc import Iterable

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h2.stream
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame

from hurtle.wire.h2_events import (
    BodyReceived,
    ConnectionEnded,
    H2Event,
    H2Settings,
    RequestEnded,
    RequestReceived,
    RequestRejected,
    StreamReset,
    WindowOpened,
)

__all__ = [
    "PREFACE",
    "BodyReceived",
    "ConnectionEnded",
    "H2Event",
    "H2Settings",
    "H2Wire",
    "RequestEnded",
    "RequestReceived",
    "RequestRejected",
    "StreamReset",
    "WindowOpened",
]

# RFC 9113 section 3.4: the client's connection preface starts with these 24 bytes.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

_MAX_STREAM_ID = 2**31 - 1
# Resets of unfinished streams a connection may spend before it is closed; each
# response finished normally gives one back, up to the start.
RESET_BUDGET = 200
# Frames in a row that ask for work but bring no request and no body
# (PING, SETTINGS, PRIORITY, WINDOW_UPDATE, empty DATA, unknown types).
IDLE_FRAME_BUDGET = 10_000


class _ServerConnection(h2.connection.H2Connection):
    """h2's connection, with a malformed request a stream error, not a connection error.

    RFC 9113 section 8.1.1: a malformed request (a bad header block, a body
    that disagrees with its content-length) is a stream error of type
    PROTOCOL_ERROR; h2 ends the whole connection for it, and with it every
    other request in flight. And section 5.1.2: a stream past
    SETTINGS_MAX_CONCURRENT_STREAMS is refused (REFUSED_STREAM), which h2
    makes a connection error too. These overrides of h2's frame handlers
    turn them into stream errors; tests/wire/test_h2.py holds them to it, for
    the h2 versions pyproject.toml allows.

    `eventless_frames` counts frames that gave no event (DATA or HEADERS on
    a stream already closed, answered with RST_STREAM): H2Wire's idle-frame
    budget counts them with the others.
    """

    eventless_frames = 0

    def _receive_frame(self, frame: Frame) -> list[h2.events.Event]:
        events = super()._receive_frame(frame)
        if not events:
            self.eventless_frames += 1
        return events

    def _receive_headers_frame(
        self, frame: HeadersFrame
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        stream_id = frame.stream_id
        is_new = stream_id not in self.streams
        try:
            return super()._receive_headers_frame(frame)
        except h2.exceptions.TooManyStreamsError:
            return self._refuse(frame)
        except h2.exceptions.ProtocolError as exc:
            # A new stream exists once its block decoded and its id was
            # valid: what failed was the check of the request (pseudo-header
            # rules, names, values, content-length), a malformed request.
            if not is_new or stream_id not in self.streams or _is_connection_error(exc):
                raise
            return [], [self._stream_error(stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)]

    def _receive_data_frame(self, frame: DataFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        try:
            return super()._receive_data_frame(frame)
        except h2.exceptions.InvalidBodyLengthError:
            # More DATA than content-length said, or END_STREAM with less:
            # the window was spent, so hand it back with the reset.
            self.acknowledge_received_data(frame.flow_controlled_length, frame.stream_id)
            return [], [self._stream_error(frame.stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)]

    def _refuse(self, frame: HeadersFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        stream_id = frame.stream_id
        # The block is decoded all the same: HPACK's table must stay in step
        # with the client's (RFC 9113 section 4.3).
        h2.connection._decode_headers(self.decoder, frame.data)
        if stream_id <= self.highest_inbound_stream_id or stream_id % 2 == 0:
            raise h2.exceptions.ProtocolError("invalid stream id")  # Section 5.1.1.
        self.highest_inbound_stream_id = stream_id
        # Later frames on it get RST_STREAM STREAM_CLOSED, as on any reset stream.
        self._closed_streams[stream_id] = h2.stream.StreamClosedBy.SEND_RST_STREAM
        reset = RstStreamFrame(stream_id)
        reset.error_code = h2.errors.ErrorCodes.REFUSED_STREAM
        return [reset], []

    def _stream_error(self, stream_id: int, error_code: int) -> h2.events.StreamReset:
        self.reset_stream(stream_id, error_code)
        # Built without __init__, whose signature changed in h2 4.2.
        event = h2.events.StreamReset.__new__(h2.events.StreamReset)
        event.stream_id = stream_id
        event.error_code = error_code
        event.remote_reset = False
        return event


def _is_connection_error(exc: h2.exceptions.ProtocolError) -> bool:
    return isinstance(
        exc,
        h2.exceptions.StreamClosedError
        | h2.exceptions.FlowControlError
        | h2.exceptions.DenialOfServiceError
        | h2.exceptions.FrameTooLargeError
        | h2.exceptions.FrameDataMissingError,
    )


class H2Wire:
    """One server-side HTTP/2 connection: bytes in, events out; responses in, bytes out."""

    def __init__(self, settings: H2Settings, enable_connect_protocol: bool = False) -> None:
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=True,
            normalize_inbound_headers=True,
            # The request cycle checked every response header already
            # (wire/headers.py), and its pairs are lower case.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self.settings = settings
        connection = self._h2 = _ServerConnection(config)
        codes = h2.settings.SettingCodes
        values = {
            codes.MAX_CONCURRENT_STREAMS: settings.max_concurrent_streams,
            codes.INITIAL_WINDOW_SIZE: settings.initial_window_size,
            codes.MAX_FRAME_SIZE: settings.max_frame_size,
            codes.MAX_HEADER_LIST_SIZE: settings.max_header_list_size,
        }
        self.enable_connect_protocol = enable_connect_protocol
        if enable_connect_protocol:
            values[codes.ENABLE_CONNECT_PROTOCOL] = 1  # RFC 8441 section 3
        # In force from the start, as announced in the first SETTINGS: the
        # client may not rely on them before it acknowledges them, but
        # hurtle holds its own side to them at once.
        connection.local_settings = h2.settings.Settings(client=False, initial_values=values)
        connection.max_inbound_frame_size = settings.max_frame_size
        connection.incoming_buffer.max_frame_size = settings.max_frame_size
        # The HPACK decoder stops a header block that decodes to more than
        # this (RFC 9113 section 10.5.1): HPACK bombs end the connection.
        connection.decoder.max_header_list_size = settings.max_header_list_size
        self._output: list[bytes] = []
        self._body_sizes: dict[int, int] = {}
        self._dispatched: set[int] = set()  # Streams whose request went to the caller.
        # Extended CONNECT streams (RFC 8441): their DATA is a tunnel's, not a body.
        self._tunnels: set[int] = set()
        self._finished: set[int] = set()  # Streams whose response is complete.
        self._reset_budget = RESET_BUDGET
        self._idle_frames = 0
        self.goaway_last: int | None = None  # Set by the final GOAWAY.
        self.closed = False
        self.highest_stream_id = 0

    # -- starting ---------------------------------------------------------------

    def start(self) -> None:
        """The server's connection preface: its SETTINGS (RFC 9113 section 3.4)."""
        self._h2.initiate_connection()
        self._open_connection_window()

    def start_upgraded(self, http2_settings: bytes) -> None:
        """After `101 Switching Protocols` to h2c (RFC 7540 section 3.2): stream 1 is the
        upgraded request, half-closed by the client; its response goes on it."""
        self._h2.initiate_upgrade_connection(http2_settings)
        self._open_connection_window()
        self._dispatched.add(1)
        self.highest_stream_id = 1

    def _open_connection_window(self) -> None:
        # SETTINGS_INITIAL_WINDOW_SIZE sets each stream's window; the
        # connection's stays 65,535 until a WINDOW_UPDATE (RFC 9113 section
        # 6.9.2). Four streams' worth lets a few uploads run side by side.
        target = min(4 * self.settings.initial_window_size, _MAX_STREAM_ID)
        if target > 65535:
            self._h2.increment_flow_control_window(target - 65535)

    # -- input --------------------------------------------------------------------

    def feed(self, data: bytes) -> list[H2Event]:
        """Events for the bytes the client sent; a ConnectionEnded event ends the list."""
        if self.closed:
            return []
        connection = self._h2
        try:
            h2_events = connection.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued a GOAWAY with the error's code (RFC 9113 section 5.4.1).
            return [self._ended(int(exc.error_code), str(exc) or type(exc).__name__)]
        events: list[H2Event] = []
        for event in h2_events:
            self._translate(event, events)
            if self.closed:
                break
        if connection.eventless_frames and not self.closed:
            self._count_idle_frame(events, connection.eventless_frames)
            connection.eventless_frames = 0
        return events

    def _translate(self, event: h2.events.Event, events: list[H2Event]) -> None:
        kind = type(event)
        if kind is h2.events.RequestReceived:
            assert isinstance(event, h2.events.RequestReceived)
            self._idle_frames = 0
            self._request(event, events)
        elif kind is h2.events.DataReceived:
            assert isinstance(event, h2.events.DataReceived)
            self._data(event, events)
        elif kind is h2.events.StreamEnded:
            assert isinstance(event, h2.events.StreamEnded)
            if event.stream_id in self._dispatched:
                events.append(RequestEnded(event.stream_id))
        elif kind is h2.events.StreamReset:
            assert isinstance(event, h2.events.StreamReset)
            self._reset_received(event, events)
        elif kind is h2.events.WindowUpdated:
            assert isinstance(event, h2.events.WindowUpdated)
            self._count_idle_frame(events)
            events.append(WindowOpened(event.stream_id))
        elif kind is h2.events.RemoteSettingsChanged:
            self._count_idle_frame(events)
            # A new SETTINGS_INITIAL_WINDOW_SIZE changes every stream's window.
            events.append(WindowOpened(0))
        elif kind is h2.events.ConnectionTerminated:
            assert isinstance(event, h2.events.ConnectionTerminated)
            self.closed = True
            events.append(
                ConnectionEnded(int(event.error_code or 0), event.last_stream_id or 0, "")
            )
        elif kind is h2.events.TrailersReceived:
            pass  # Trailer fields are not passed on: ASGI has no request trailers.
        else:
            # PING, SETTINGS ACK, PRIORITY, unknown frame types: h2 answered
            # what needs an answer; only their number matters here.
            self._count_idle_frame(events)

    def _request(self, event: h2.events.RequestReceived, events: list[H2Event]) -> None:
        stream_id = event.stream_id
        self.highest_stream_id = max(self.highest_stream_id, stream_id)
        if self.goaway_last is not None and stream_id > self.goaway_last:
            # After the final GOAWAY (RFC 9113 section 6.8): not processed,
            # so the client may retry it on another connection.
            self._reset(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        method = ""
        target = b""
        authority: bytes | None = None
        scheme: str | None = None
        protocol: str | None = None
        headers: list[tuple[bytes, bytes]] = []
        cookies: list[bytes] = []
        host_seen = False
        for name, value in event.headers or ():
            assert isinstance(name, bytes) and isinstance(value, bytes)
            if name[:1] == b":":
                if name == b":method":
                    method = value.decode("ascii")
                elif name == b":path":
                    target = value
                elif name == b":authority":
                    authority = value
                elif name == b":scheme":
                    scheme = value.decode("ascii")
                elif name == b":protocol":
                    protocol = value.decode("ascii")
            elif name == b"cookie":
                cookies.append(value)
            else:
                if name == b"host":
                    host_seen = True
                    if authority is not None:
                        continue  # RFC 9113 section 8.3.1: :authority wins.
                headers.append((name, value))
        if authority is not None:
            # RFC 9113 section 8.3.1: a server uses :authority as Host.
            headers = [pair for pair in headers if pair[0] != b"host"] if host_seen else headers
            headers.insert(0, (b"host", authority))
        if cookies:
            # RFC 9113 section 8.2.3: crumbs split over several fields are one
            # cookie-string again for HTTP/1.1 semantics (ASGI apps parse it so).
            headers.append((b"cookie", b"; ".join(cookies)))
        ended = event.stream_ended is not None
        if len(headers) > self.settings.max_headers:
            self._dispatched.add(stream_id)
            events.append(
                RequestRejected(stream_id, 431, "Request header fields too large: too many")
            )
            return
        if protocol is not None and not self.enable_connect_protocol:
            # RFC 8441 section 4: :protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL
            # is a malformed request, a stream error (RFC 9113 section 8.1.1).
            self._reset(stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)
            return
        if method == "CONNECT" and protocol is None:
            # RFC 9113 section 8.5: a plain CONNECT asks for a tunnel, which
            # hurtle does not relay.
            self._dispatched.add(stream_id)
            events.append(RequestRejected(stream_id, 501, "CONNECT is not supported"))
            return
        self._dispatched.add(stream_id)
        if protocol is not None:
            self._tunnels.add(stream_id)
        events.append(RequestReceived(stream_id, method, target, headers, scheme, protocol, ended))
        if ended:
            events.append(RequestEnded(stream_id))

    def _data(self, event: h2.events.DataReceived, events: list[H2Event]) -> None:
        stream_id = event.stream_id
        data = event.data or b""
        flow = event.flow_controlled_length or 0
        if flow > len(data):
            # Padding is flow-controlled but never reaches the app: credit at once.
            self._h2.acknowledge_received_data(flow - len(data), stream_id)
        if not data:
            if event.stream_ended is None:
                self._count_idle_frame(events)
            return
        self._idle_frames = 0
        if stream_id not in self._dispatched:
            self._h2.acknowledge_received_data(len(data), stream_id)
            return
        size = self._body_sizes.get(stream_id, 0) + len(data)
        self._body_sizes[stream_id] = size
        limit = self.settings.max_body
        if limit is not None and size > limit and stream_id not in self._tunnels:
            self._h2.acknowledge_received_data(len(data), stream_id)
            events.append(RequestRejected(stream_id, 413, "Content too large"))
            return
        events.append(BodyReceived(stream_id, data))

    def _reset_received(self, event: h2.events.StreamReset, events: list[H2Event]) -> None:
        stream_id = event.stream_id
        dispatched = stream_id in self._dispatched
        self._forget(stream_id)
        if stream_id in self._finished:
            self._finished.discard(stream_id)
            return
        if not event.remote_reset and not dispatched:
            return  # A malformed request hurtle reset before any app saw it.
        # Resets the client causes hurtle to send (a malformed body, a window
        # overflow) spend the budget too: they free a stream slot while its
        # app may still run ("MadeYouReset", CVE-2025-8671).
        self._reset_budget -= 1
        events.append(StreamReset(stream_id, int(event.error_code or 0)))
        if self._reset_budget < 0:
            events.append(
                self._fail(
                    h2.errors.ErrorCodes.ENHANCE_YOUR_CALM,
                    "too many streams reset by the client (rapid reset)",
                )
            )

    def _count_idle_frame(self, events: list[H2Event], frames: int = 1) -> None:
        self._idle_frames += frames
        if self._idle_frames > IDLE_FRAME_BUDGET and not self.closed:
            events.append(
                self._fail(
                    h2.errors.ErrorCodes.ENHANCE_YOUR_CALM,
                    "a flood of frames that carry no request (control frames, empty DATA)",
                )
            )

    # -- output ---------------------------------------------------------------------

    def send_headers(
        self,
        stream_id: int,
        status: int,
        fields: Iterable[tuple[bytes, bytes]],
        end_stream: bool,
    ) -> None:
        """A response head: `:status` and the fields (lower-case names, checked)."""
        headers = [(b":status", b"%d" % status), *fields]
        self._h2.send_headers(stream_id, headers, end_stream=end_stream)
        self._idle_frames = 0
        if end_stream:
            self._response_done(stream_id)

    def send_trailers(self, stream_id: int, fields: Iterable[tuple[bytes, bytes]]) -> None:
        """The trailer section: a HEADERS frame that ends the stream (RFC 9113 section 8.1)."""
        self._h2.send_headers(stream_id, list(fields), end_stream=True)
        self._idle_frames = 0
        self._response_done(stream_id)

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool) -> int:
        """Send as much of `data` as the windows allow; the number of bytes sent.

        When all of it went (and end_stream), the stream is ended too. The
        caller keeps the rest and calls again on WindowOpened.
        """
        connection = self._h2
        size = len(data)
        sent = 0
        if size:
            window = connection.local_flow_control_window(stream_id)
            frame = connection.max_outbound_frame_size
            view = memoryview(data)
            while sent < size and window > 0:
                chunk = min(size - sent, window, frame)
                last = end_stream and sent + chunk == size
                connection.send_data(
                    stream_id, view[sent : sent + chunk].tobytes(), end_stream=last
                )
                sent += chunk
                window -= chunk
            self._idle_frames = 0
        if end_stream and sent == size:
            if not size:
                connection.end_stream(stream_id)
            self._response_done(stream_id)
        return sent

    def body_consumed(self, stream_id: int, size: int) -> None:
        """The app took `size` bytes of this stream's body: the client may send more."""
        if not self.closed:
            self._h2.acknowledge_received_data(size, stream_id)

    def reset(self, stream_id: int, error_code: int = h2.errors.ErrorCodes.INTERNAL_ERROR) -> None:
        """End a stream that cannot complete (RST_STREAM)."""
        self._reset(stream_id, error_code)

    def _reset(self, stream_id: int, error_code: int) -> None:
        self._forget(stream_id)
        if self.closed:
            return
        try:
            self._h2.reset_stream(stream_id, error_code)
        except h2.exceptions.StreamClosedError:
            pass  # Already closed both ways: nothing to reset.

    def stream_open(self, stream_id: int) -> bool:
        return stream_id in self._dispatched

    def _response_done(self, stream_id: int) -> None:
        if self._reset_budget < RESET_BUDGET:
            self._reset_budget += 1
        self._forget(stream_id)
        self._finished.add(stream_id)
        if len(self._finished) > 1024:
            self._finished.clear()  # Only for telling late resets apart; bounded.

    def _forget(self, stream_id: int) -> None:
        self._dispatched.discard(stream_id)
        self._tunnels.discard(stream_id)
        self._body_sizes.pop(stream_id, None)

    # -- closing ------------------------------------------------------------------

    def announce_shutdown(self) -> None:
        """The first GOAWAY of a graceful shutdown: last stream id 2^31-1, NO_ERROR.

        RFC 9113 section 6.8: the client stops opening streams, and those it
        opened while this was in flight are still served.
        """
        if not self.closed:
            self._goaway(_MAX_STREAM_ID)

    def finish_shutdown(self) -> None:
        """The final GOAWAY: streams after the last one processed are refused."""
        if not self.closed and self.goaway_last is None:
            self.goaway_last = self.highest_stream_id
            self._goaway(self.highest_stream_id)

    def _goaway(self, last_stream_id: int) -> None:
        self._output.append(self._h2.data_to_send())
        frame = GoAwayFrame(0, last_stream_id=last_stream_id, error_code=0)
        self._output.append(frame.serialize())

    def close(self, error_code: int = 0) -> None:
        """End the connection with a GOAWAY (the last, if others went before)."""
        if not self.closed:
            self.closed = True
            last = self.goaway_last if self.goaway_last is not None else self.highest_stream_id
            self._h2.close_connection(error_code, last_stream_id=last)

    def _fail(self, error_code: int, reason: str) -> ConnectionEnded:
        self.close(error_code)
        return ConnectionEnded(error_code, self.highest_stream_id, reason)

    def _ended(self, error_code: int, reason: str) -> ConnectionEnded:
        self.closed = True
        return ConnectionEnded(error_code, self.highest_stream_id, reason)

    def outgoing(self) -> bytes:
        """Everything to write now, in order."""
        data = self._h2.data_to_send()
        if self._output:
            self._output.append(data)
            data = b"".join(self._output)
            self._output = []
        return data

    def outgoing_pieces(self) -> list[bytes | memoryview]:
        """The same as one piece (H2Engine's interface: pieces for `writelines`)."""
        data = self.outgoing()
        return [data] if data else []
