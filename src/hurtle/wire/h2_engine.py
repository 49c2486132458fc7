"""hurtle's own HTTP/2 engine (RFC 9113), sans-I/O: the interface and events of H2Wire.

Theory of operation
-------------------
`H2Engine` is a drop-in for wire/h2.py's `H2Wire` (same constructor,
methods and events, wire/h2_events.py), without the h2 library underneath:
`feed(bytes)` cuts frames straight out of the input buffer (no frame
objects), acts on each as it comes and returns hurtle's events; `outgoing()`
returns the bytes to write. Built for mypyc (typed native classes, a dict of
streams by id, no scans over all streams per frame, no logging).

What it does, with the RFC sections the code cites:
- frames (section 4, 6): length against SETTINGS_MAX_FRAME_SIZE, padding,
  stream-id rules per type, unknown types ignored; a header block is HEADERS
  then CONTINUATIONs on the same stream and nothing else, at most 64 frames;
- streams (section 5.1): ids odd and increasing, MAX_CONCURRENT_STREAMS
  (REFUSED_STREAM), frames on closed streams;
- flow control (sections 5.2, 6.9) both ways; the credit given back to the
  client follows the same batching as h2's (a WINDOW_UPDATE once half the
  window is used), so the wire looks the same;
- requests (section 8.2, 8.3): pseudo-headers, names, values, connection-
  specific fields, TE, content-length against DATA; a malformed request is a
  stream error (section 8.1.1);
- the defences, graceful shutdown and extended CONNECT exactly as H2Wire
  documents them (its docstring says why each is there).

HPACK (RFC 7541) is wire/hpack.py's, compiled too. tests/wire/test_h2_engine_oracle.py holds this
engine to H2Wire on random frame streams and lists where they differ on
purpose.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Final

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
from hurtle.wire.h2_frames import (
    COMPRESSION_ERROR,
    CONNECTION_PREFACE,
    CONTINUATION,
    DATA,
    ENHANCE_YOUR_CALM,
    FLAG_ACK,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FLAG_PADDED,
    FLAG_PRIORITY,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    GOAWAY,
    HEADERS,
    INTERNAL_ERROR,
    MAX_MAX_FRAME_SIZE,
    MAX_STREAM_ID,
    MAX_WINDOW,
    MIN_MAX_FRAME_SIZE,
    PING,
    PRIORITY,
    PROTOCOL_ERROR,
    PUSH_PROMISE,
    REFUSED_STREAM,
    RST_STREAM,
    SETTINGS,
    SETTINGS_ENABLE_CONNECT_PROTOCOL,
    SETTINGS_ENABLE_PUSH,
    SETTINGS_HEADER_TABLE_SIZE,
    SETTINGS_INITIAL_WINDOW_SIZE,
    SETTINGS_MAX_CONCURRENT_STREAMS,
    SETTINGS_MAX_FRAME_SIZE,
    SETTINGS_MAX_HEADER_LIST_SIZE,
    STREAM_CLOSED,
    WINDOW_UPDATE,
    frame_head,
    goaway_frame,
    ping_ack_frame,
    rst_stream_frame,
    settings_ack_frame,
    settings_frame,
    window_update_frame,
)
from hurtle.wire.hpack import Decoder, Encoder, HPACKError, OversizedHeaderListError

__all__ = ["IDLE_FRAME_BUDGET", "RESET_BUDGET", "H2Engine"]

# The same budgets as H2Wire's (wire/h2.py says what they defend against).
RESET_BUDGET: Final = 200
IDLE_FRAME_BUDGET: Final = 10_000
# RFC 9113 section 6.10 sets no bound on CONTINUATION frames; a header block of
# more than this many frames is a connection error (the 2024 CONTINUATION flood).
MAX_HEADER_BLOCK_FRAMES: Final = 64
# Closed streams remembered, to tell a late frame on a stream hurtle reset
# (ignored, RST_STREAM) from one on a stream that ended (a connection error).
CLOSED_STREAMS_KEPT: Final = 4096

_CLOSED_BY_RESET: Final = 1
_CLOSED_BY_END: Final = 2
# A DATA payload this long is written from the app's own buffer (outgoing_pieces);
# shorter pieces are joined, since copying them is cheaper than an iovec each.
_WRITE_AS_IS: Final = 4096

# RFC 9113 section 8.2.2: fields that only mean something to an HTTP/1.1 connection.
_CONNECTION_SPECIFIC: Final = frozenset(
    [b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"upgrade"]
)
# RFC 9113 section 8.2.1: a field name is lowercase visible ASCII, without ':'
# but for a pseudo-header's first byte. Deleting every allowed byte leaves
# nothing of a valid name: one C-level pass, no Python loop over bytes.
_NAME_BYTES: Final = bytes(c for c in range(0x21, 0x7F) if not 0x41 <= c <= 0x5A and c != 0x3A)
# Names already checked (they repeat: HPACK indexes them), shared by all
# connections: bounded in number and in length, so that clients cannot make
# it hold more than 2048 x 64 bytes.
_VALID_NAMES: Final[set[bytes]] = set()
_VALID_NAMES_KEPT: Final = 2048
# Values already checked, for the same reason: a client's :authority, :path,
# user-agent and accept come back request after request as the same objects
# from its HPACK table, whose hash is kept, so a set lookup (~50 instructions)
# replaces a translate() (~900). Emptied when full rather than frozen, so that
# it follows the values that repeat now: at most 4096 x 128 bytes.
_VALID_VALUES: Final[set[bytes]] = set()
_VALID_VALUES_KEPT: Final = 4096
_VALID_VALUE_LONGEST_KEPT: Final = 128
_STATUS_BYTES: Final = {code: b"%d" % code for code in range(100, 600)}


class _ConnectionError(Exception):
    """RFC 9113 section 5.4.1: the connection ends with GOAWAY and this code."""

    def __init__(self, error_code: int, reason: str, goaway: bool = True) -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.reason = reason
        self.goaway = goaway


class _Malformed(Exception):
    """A malformed request (RFC 9113 section 8.1.1): a stream error, PROTOCOL_ERROR."""


class _InboundWindow:
    """What the client may still send, and when to give credit back.

    Credit goes back in batches, as h2's WindowManager does it: once half the
    window was processed, or at once when the window is spent; that keeps
    the frames on the wire the same as with H2Wire.
    """

    def __init__(self, size: int) -> None:
        self.current = size
        self.max = size
        self.processed = 0

    def process(self, size: int) -> int:
        """`size` bytes were consumed by the app: the increment to send, or 0."""
        self.processed += size
        processed = self.processed
        if not processed:
            return 0
        increment = 0
        if (
            self.current == 0 and processed > min(1024, self.max // 4)
        ) or processed >= self.max // 2:
            increment = min(processed, self.max - self.current)
            self.processed = 0
        self.current += increment
        return increment


class _Stream:
    """One stream that is not closed (RFC 9113 section 5.1)."""

    def __init__(self, stream_id: int, send_window: int, receive_window: int) -> None:
        self.stream_id = stream_id
        self.remote_open = True  # The client may still send on it.
        self.local_open = True  # hurtle may still send on it.
        self.send_window = send_window
        self.receive = _InboundWindow(receive_window)
        self.expected_length = -1  # content-length, -1 when none was given.
        self.received_length = 0
        self.dispatched = False  # Its request went to the caller.
        self.tunnel = False  # An extended CONNECT (RFC 8441): DATA is not a body.
        self.body_size = 0


class H2Engine:
    """One server-side HTTP/2 connection: bytes in, events out; responses in, bytes out."""

    def __init__(self, settings: H2Settings, enable_connect_protocol: bool = False) -> None:
        self.settings = settings
        self.enable_connect_protocol = enable_connect_protocol
        self.goaway_last: int | None = None  # Set by the final GOAWAY.
        self.closed = False
        self.highest_stream_id = 0  # Of the requests seen (H2Wire's meaning).
        self._highest_inbound = 0  # Of every stream the client opened (section 5.1.1).
        self._streams: dict[int, _Stream] = {}
        self._closed_streams: dict[int, int] = {}
        self._finished: set[int] = set()  # Streams whose response is complete.
        self._reset_budget = RESET_BUDGET
        self._idle_frames = 0
        # Frames to write, in order. A DATA payload of the app's is its own
        # piece (its bytes or a view of them), never copied: see outgoing_pieces.
        self._output: list[bytes | memoryview] = []
        self._buffer = b""
        self._preface_left = len(CONNECTION_PREFACE)
        # A header block in progress (RFC 9113 section 4.3): its stream, pieces, flags.
        self._block_stream = 0
        self._block_parts: list[bytes] = []
        self._block_flags = 0
        self._block_self_dependent = False
        # Hurtle's limits, in force from the start (as H2Wire holds them).
        self._max_frame_size = settings.max_frame_size
        self._max_concurrent = settings.max_concurrent_streams
        self._local_window = settings.initial_window_size
        self._receive = _InboundWindow(65535)  # The connection's (section 6.9.2).
        # The client's settings (section 6.5.2 defaults until its SETTINGS).
        self._send_window = 65535
        self._peer_initial_window = 65535
        self._peer_max_frame_size = MIN_MAX_FRAME_SIZE
        self._decoder = Decoder(settings.max_header_list_size)
        self._encoder = Encoder()

    # -- starting ---------------------------------------------------------------

    def start(self) -> None:
        """The server's connection preface: its SETTINGS (RFC 9113 section 3.4)."""
        self._output.append(self._settings_frame())
        self._open_connection_window()

    def start_upgraded(self, http2_settings: bytes) -> None:
        """After `101 Switching Protocols` to h2c (RFC 7540 section 3.2): stream 1 is the
        upgraded request, half-closed by the client; its response goes on it."""
        payload = base64.urlsafe_b64decode(http2_settings + b"=" * (-len(http2_settings) % 4))
        self._output.append(self._settings_frame())
        try:
            self._apply_settings(payload, 0, len(payload))
        except _ConnectionError:
            pass  # The header was checked by the HTTP/1.1 side; bad values are ignored.
        stream = self._new_stream(1)
        stream.remote_open = False
        stream.dispatched = True
        self._highest_inbound = 1
        self.highest_stream_id = 1
        self._open_connection_window()

    def _settings_frame(self) -> bytes:
        settings = self.settings
        # The order and set of h2's preface, so that the bytes are alike.
        return settings_frame(
            [
                (SETTINGS_HEADER_TABLE_SIZE, 4096),
                (SETTINGS_ENABLE_PUSH, 0),
                (SETTINGS_INITIAL_WINDOW_SIZE, settings.initial_window_size),
                (SETTINGS_MAX_FRAME_SIZE, settings.max_frame_size),
                (SETTINGS_ENABLE_CONNECT_PROTOCOL, 1 if self.enable_connect_protocol else 0),
                (SETTINGS_MAX_CONCURRENT_STREAMS, settings.max_concurrent_streams),
                (SETTINGS_MAX_HEADER_LIST_SIZE, settings.max_header_list_size),
            ]
        )

    def _open_connection_window(self) -> None:
        # SETTINGS_INITIAL_WINDOW_SIZE sets each stream's window; the
        # connection's stays 65,535 until a WINDOW_UPDATE (RFC 9113 section
        # 6.9.2). Four streams' worth lets a few uploads run side by side.
        target = min(4 * self.settings.initial_window_size, MAX_WINDOW)
        if target > 65535:
            window = self._receive
            window.current += target - 65535
            if window.current > window.max:
                window.max = window.current
            self._output.append(window_update_frame(0, target - 65535))

    # -- input --------------------------------------------------------------------

    def feed(self, data: bytes) -> list[H2Event]:
        """Events for the bytes the client sent; a ConnectionEnded event ends the list."""
        if self.closed:
            return []
        events: list[H2Event] = []
        highest_before = self.highest_stream_id
        try:
            if self._preface_left:
                data = self._preface(data)
            buffer = self._buffer + data if self._buffer else data
            size = len(buffer)
            position = 0
            limit = self._max_frame_size
            while size - position >= 9:
                length = (
                    (buffer[position] << 16) | (buffer[position + 1] << 8) | buffer[position + 2]
                )
                kind = buffer[position + 3]
                stream_id = (
                    ((buffer[position + 5] & 0x7F) << 24)  # Section 4.1: reserved bit ignored.
                    | (buffer[position + 6] << 16)
                    | (buffer[position + 7] << 8)
                    | buffer[position + 8]
                )
                # Sections 6.1-6.10: which frames belong to a stream and which to
                # the connection; said at the header, as h2 does.
                if stream_id:
                    if kind in (SETTINGS, PING, GOAWAY):
                        raise _ConnectionError(PROTOCOL_ERROR, "a connection frame on a stream")
                elif kind <= RST_STREAM or kind in (PUSH_PROMISE, CONTINUATION):
                    raise _ConnectionError(PROTOCOL_ERROR, "a stream frame on stream 0")
                if length > limit:
                    # RFC 9113 section 4.2; said at the header, before the body is buffered.
                    raise _ConnectionError(FRAME_SIZE_ERROR, "frame larger than MAX_FRAME_SIZE")
                start = position + 9
                end = start + length
                if end > size:
                    break
                flags = buffer[position + 4]
                position = end
                self._frame(kind, flags, stream_id, buffer, start, end, events)
                if self.closed:
                    break
            self._buffer = buffer[position:] if position < size else b""
        except _ConnectionError as error:
            # Like H2Wire (h2 raises): the events of this read are dropped,
            # the connection ends with GOAWAY and the error's code.
            self._buffer = b""
            self.closed = True
            if error.goaway:
                self._output.append(goaway_frame(self._highest_inbound, error.error_code))
            return [ConnectionEnded(error.error_code, highest_before, error.reason)]
        return events

    def _preface(self, data: bytes) -> bytes:
        left = self._preface_left
        offset = len(CONNECTION_PREFACE) - left
        taken = min(left, len(data))
        if data[:taken] != CONNECTION_PREFACE[offset : offset + taken]:
            # RFC 9113 section 3.4: a connection error; no GOAWAY, as the
            # peer does not speak HTTP/2 (H2Wire sends none either).
            raise _ConnectionError(PROTOCOL_ERROR, "Invalid HTTP/2 preamble.", goaway=False)
        self._preface_left = left - taken
        return data[taken:]

    def _frame(
        self,
        kind: int,
        flags: int,
        stream_id: int,
        buffer: bytes,
        start: int,
        end: int,
        events: list[H2Event],
    ) -> None:
        if self._block_stream:
            # RFC 9113 section 4.3: a header block is contiguous.
            if kind != CONTINUATION or stream_id != self._block_stream:
                raise _ConnectionError(PROTOCOL_ERROR, "a frame in the middle of a header block")
            self._continuation(flags, buffer[start:end], events)
        elif kind == DATA:
            self._data_frame(flags, stream_id, buffer, start, end, events)
        elif kind == HEADERS:
            self._headers_frame(flags, stream_id, buffer, start, end, events)
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, buffer, start, end, events)
        elif kind == RST_STREAM:
            self._rst_stream(stream_id, buffer, start, end, events)
        elif kind == SETTINGS:
            self._settings(flags, stream_id, buffer, start, end, events)
        elif kind == PING:
            if stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, "PING on a stream")  # Section 6.7.
            if end - start != 8:
                raise _ConnectionError(FRAME_SIZE_ERROR, "PING of other than 8 bytes")
            if not flags & FLAG_ACK:
                self._output.append(ping_ack_frame(buffer[start:end]))
            self._count_idle_frame(events)
        elif kind == PRIORITY:
            # Section 6.3 (deprecated by section 5.3.2, parsed and ignored).
            if not stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, "PRIORITY on stream 0")
            if end - start != 5:
                raise _ConnectionError(FRAME_SIZE_ERROR, "PRIORITY of other than 5 bytes")
            if self._depends_on(buffer, start) == stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, "a stream that depends on itself")
            self._count_idle_frame(events)
        elif kind == GOAWAY:
            if stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, "GOAWAY on a stream")  # Section 6.8.
            if end - start < 8:
                raise _ConnectionError(FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes")
            self.closed = True
            last = self._depends_on(buffer, start)
            events.append(ConnectionEnded(_u32(buffer, start + 4), last, ""))
        elif kind == CONTINUATION:
            if not stream_id:
                raise _ConnectionError(PROTOCOL_ERROR, "CONTINUATION on stream 0")
            raise _ConnectionError(PROTOCOL_ERROR, "CONTINUATION without a header block")
        elif kind == PUSH_PROMISE:
            # Section 8.4: only servers push; a client's PUSH_PROMISE is an error.
            raise _ConnectionError(PROTOCOL_ERROR, "PUSH_PROMISE from a client")
        else:
            # Section 4.1: frames of unknown types are ignored (but counted).
            self._count_idle_frame(events)

    @staticmethod
    def _depends_on(buffer: bytes, start: int) -> int:
        return (
            ((buffer[start] & 0x7F) << 24)
            | (buffer[start + 1] << 16)
            | (buffer[start + 2] << 8)
            | buffer[start + 3]
        )

    # -- DATA -----------------------------------------------------------------------

    def _data_frame(
        self,
        flags: int,
        stream_id: int,
        buffer: bytes,
        start: int,
        end: int,
        events: list[H2Event],
    ) -> None:
        if not stream_id:
            raise _ConnectionError(PROTOCOL_ERROR, "DATA on stream 0")  # Section 6.1.
        flow = end - start  # Padding is flow-controlled too (section 6.1).
        if flags & FLAG_PADDED:
            if flow < 1:
                raise _ConnectionError(FRAME_SIZE_ERROR, "padded DATA without its pad length")
            pad = buffer[start]
            if pad and pad >= flow:
                raise _ConnectionError(PROTOCOL_ERROR, "DATA padding too long")
            data = buffer[start + 1 : end - pad]
        else:
            data = buffer[start:end] if start or end != len(buffer) else buffer
        connection_window = self._receive
        connection_window.current -= flow
        if connection_window.current < 0:
            raise _ConnectionError(FLOW_CONTROL_ERROR, "DATA beyond the connection window")
        stream = self._streams.get(stream_id)
        if stream is None:
            if stream_id > self._highest_inbound:
                raise _ConnectionError(PROTOCOL_ERROR, "DATA on an idle stream")  # 5.1.
            # Closed: the window is given back, the stream stays closed (5.1).
            self._credit_connection(flow)
            self._output.append(rst_stream_frame(stream_id, STREAM_CLOSED))
            self._count_idle_frame(events)
            return
        if not stream.remote_open:
            # Section 5.1, half-closed (remote): a stream error STREAM_CLOSED.
            self._credit_connection(flow)
            self._stream_error(stream, STREAM_CLOSED, events)
            return
        window = stream.receive
        window.current -= flow
        if window.current < 0:
            raise _ConnectionError(FLOW_CONTROL_ERROR, "DATA beyond the stream window")
        size = len(data)
        ended = flags & FLAG_END_STREAM != 0
        expected = stream.expected_length
        if expected >= 0:
            received = stream.received_length + size
            stream.received_length = received
            if received > expected or (ended and received != expected):
                # Section 8.1.1: malformed. The window is handed back with the reset.
                self._acknowledge(stream_id, flow)
                self._stream_error(stream, PROTOCOL_ERROR, events)
                return
        if ended:
            # The stream's state first, as h2 has it when H2Wire gives credit back.
            self._remote_ended(stream)
        if flow > size:
            # Padding never reaches the app: credit at once.
            self._acknowledge(stream_id, flow - size)
        if size:
            self._idle_frames = 0
            if not stream.dispatched:
                self._acknowledge(stream_id, size)
            else:
                body = stream.body_size + size
                stream.body_size = body
                limit = self.settings.max_body
                if limit is not None and body > limit and not stream.tunnel:
                    self._acknowledge(stream_id, size)
                    events.append(RequestRejected(stream_id, 413, "Content too large"))
                else:
                    events.append(BodyReceived(stream_id, data))
        elif not ended:
            self._count_idle_frame(events)
        if ended and stream.dispatched:
            events.append(RequestEnded(stream_id))

    def _credit_connection(self, size: int) -> None:
        increment = self._receive.process(size)
        if increment:
            self._output.append(window_update_frame(0, increment))

    def _acknowledge(self, stream_id: int, size: int) -> None:
        self._credit_connection(size)
        stream = self._streams.get(stream_id)
        if stream is not None:
            increment = stream.receive.process(size)
            if increment:
                self._output.append(window_update_frame(stream_id, increment))

    # -- HEADERS and CONTINUATION -----------------------------------------------------

    def _headers_frame(
        self,
        flags: int,
        stream_id: int,
        buffer: bytes,
        start: int,
        end: int,
        events: list[H2Event],
    ) -> None:
        if not stream_id:
            raise _ConnectionError(PROTOCOL_ERROR, "HEADERS on stream 0")  # Section 6.2.
        position = start
        pad = 0
        if flags & FLAG_PADDED:
            if end - position < 1:
                raise _ConnectionError(FRAME_SIZE_ERROR, "padded HEADERS without its pad length")
            pad = buffer[position]
            position += 1
        self_dependent = False
        if flags & FLAG_PRIORITY:
            if end - position < 5:
                raise _ConnectionError(FRAME_SIZE_ERROR, "HEADERS too short for its priority")
            self_dependent = self._depends_on(buffer, position) == stream_id
            position += 5
        if pad and (pad >= end - start - 1 or pad > end - position):
            raise _ConnectionError(PROTOCOL_ERROR, "HEADERS padding too long")
        block = buffer[position : end - pad]
        if not flags & FLAG_END_HEADERS:
            self._block_stream = stream_id
            self._block_parts = [block]
            self._block_flags = flags
            self._block_self_dependent = self_dependent
            return
        self._header_block(stream_id, flags, block, self_dependent, events)

    def _continuation(self, flags: int, piece: bytes, events: list[H2Event]) -> None:
        parts = self._block_parts
        parts.append(piece)
        if len(parts) > MAX_HEADER_BLOCK_FRAMES:
            raise _ConnectionError(PROTOCOL_ERROR, "too many CONTINUATION frames")
        if flags & FLAG_END_HEADERS:
            stream_id = self._block_stream
            self._block_stream = 0
            self._block_parts = []
            self._header_block(
                stream_id, self._block_flags, b"".join(parts), self._block_self_dependent, events
            )

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        try:
            return self._decoder.decode(block)
        except OversizedHeaderListError as error:
            # Section 10.5.1: an HPACK bomb.
            raise _ConnectionError(ENHANCE_YOUR_CALM, f"oversized header block: {error}") from None
        except HPACKError as error:
            # Section 4.3: the compression context is lost.
            raise _ConnectionError(COMPRESSION_ERROR, f"bad header block: {error}") from None

    def _header_block(
        self,
        stream_id: int,
        flags: int,
        block: bytes,
        self_dependent: bool,
        events: list[H2Event],
    ) -> None:
        streams = self._streams
        stream = streams.get(stream_id)
        if stream is None and len(streams) >= self._max_concurrent:
            # Section 5.1.2: refused, a stream error. The block is decoded all
            # the same: HPACK's table must stay in step with the client's.
            self._decode(block)
            if stream_id <= self._highest_inbound or not stream_id & 1:
                raise _ConnectionError(PROTOCOL_ERROR, "invalid stream id")  # 5.1.1.
            self._highest_inbound = stream_id
            self._remember_closed(stream_id, _CLOSED_BY_RESET)
            self._output.append(rst_stream_frame(stream_id, REFUSED_STREAM))
            self._count_idle_frame(events)
            return
        headers = self._decode(block)
        ended = flags & FLAG_END_STREAM != 0
        if stream is not None:
            self._trailers(stream, headers, ended, events)
            return
        if stream_id <= self._highest_inbound:
            how = self._closed_streams.get(stream_id, 0)
            if how == _CLOSED_BY_RESET:
                self._output.append(rst_stream_frame(stream_id, STREAM_CLOSED))
                self._count_idle_frame(events)
                return
            if how == _CLOSED_BY_END:
                raise _ConnectionError(STREAM_CLOSED, "HEADERS on a closed stream")  # 5.1.
            raise _ConnectionError(PROTOCOL_ERROR, "stream id lower than one used")  # 5.1.1.
        if not stream_id & 1:
            raise _ConnectionError(PROTOCOL_ERROR, "even stream id from a client")  # 5.1.1.
        self._highest_inbound = stream_id
        stream = self._new_stream(stream_id)
        if ended:
            stream.remote_open = False
        try:
            if self_dependent:
                raise _Malformed
            self._request(stream, headers, ended, events)
        except _Malformed:
            self._stream_error(stream, PROTOCOL_ERROR, events)
            return
        if flags & FLAG_PRIORITY:
            self._count_idle_frame(events)  # H2Wire counts the priority it carries.

    def _new_stream(self, stream_id: int) -> _Stream:
        stream = _Stream(stream_id, self._peer_initial_window, self._local_window)
        self._streams[stream_id] = stream
        return stream

    def _trailers(
        self,
        stream: _Stream,
        headers: list[tuple[bytes, bytes]],
        ended: bool,
        events: list[H2Event],
    ) -> None:
        if not stream.remote_open:
            # Section 5.1, half-closed (remote): a stream error STREAM_CLOSED.
            self._stream_error(stream, STREAM_CLOSED, events)
            return
        # Section 8.1: a trailer section ends the stream and has no pseudo-header.
        if not ended:
            raise _ConnectionError(PROTOCOL_ERROR, "trailers without END_STREAM")
        for name, value in headers:
            if name[:1] == b":" or not _valid_field(name, value):
                raise _ConnectionError(PROTOCOL_ERROR, "malformed trailers")
        expected = stream.expected_length
        if expected >= 0 and expected != stream.received_length:
            self._stream_error(stream, PROTOCOL_ERROR, events)  # Section 8.1.1.
            return
        # Trailer fields are not passed on: ASGI has no request trailers.
        if stream.dispatched:
            events.append(RequestEnded(stream.stream_id))
        self._remote_ended(stream)

    def _request(
        self,
        stream: _Stream,
        fields: list[tuple[bytes, bytes]],
        ended: bool,
        events: list[H2Event],
    ) -> None:
        """A request's header block: checked (RFC 9113 sections 8.2, 8.3), then an event."""
        method = b""
        path: bytes | None = None
        authority: bytes | None = None
        scheme: bytes | None = None
        protocol: bytes | None = None
        host: bytes | None = None
        headers: list[tuple[bytes, bytes]] = []
        cookies: list[bytes] | None = None
        content_length = -1
        seen_method = False
        regular = False
        valid_names = _VALID_NAMES
        for field in fields:
            name = field[0]
            value = field[1]
            if name[:1] == b":":
                # Section 8.3: pseudo-headers first, each once, only those defined.
                if regular:
                    raise _Malformed
                if name == b":method":
                    if seen_method:
                        raise _Malformed
                    seen_method = True
                    method = value
                elif name == b":path":
                    if path is not None:
                        raise _Malformed
                    path = value
                elif name == b":scheme":
                    if scheme is not None:
                        raise _Malformed
                    scheme = value
                elif name == b":authority":
                    if authority is not None:
                        raise _Malformed
                    authority = value
                elif name == b":protocol":
                    if protocol is not None:
                        raise _Malformed
                    protocol = value
                else:
                    raise _Malformed  # :status, or unknown (section 8.3).
                if not _valid_value(value):
                    raise _Malformed
                continue
            regular = True
            if name not in valid_names:
                if not name or name.translate(None, _NAME_BYTES):
                    raise _Malformed  # Section 8.2.1 (upper case, controls, ':').
                if name in _CONNECTION_SPECIFIC:
                    raise _Malformed  # Section 8.2.2.
                if len(valid_names) < _VALID_NAMES_KEPT and len(name) <= 64 and name != b"te":
                    valid_names.add(name)
            if value and not _valid_value(value):
                raise _Malformed
            if name == b"cookie":
                # Section 8.2.3: crumbs are one cookie-string again, for HTTP/1.1
                # semantics (ASGI apps parse it so), after the other fields.
                if cookies is None:
                    cookies = [value]
                else:
                    cookies.append(value)
                continue
            if name == b"host":
                if host is not None:
                    raise _Malformed
                host = value
                if authority is not None:
                    if value != authority:
                        raise _Malformed
                    continue  # Section 8.3.1: :authority stands for Host.
            elif name == b"te":
                if value.lower() != b"trailers":
                    raise _Malformed  # Section 8.2.2.
            elif name == b"content-length":
                if not value.isdigit():
                    raise _Malformed
                length = int(value)
                if content_length >= 0 and length != content_length:
                    raise _Malformed
                content_length = length
            headers.append(field)
        if not seen_method:
            raise _Malformed
        if method == b"CONNECT":
            if protocol is None:
                # Section 8.5: a plain CONNECT has no :scheme and :path.
                if scheme is not None or path is not None:
                    raise _Malformed
            elif scheme is None or path is None:
                raise _Malformed  # RFC 8441 section 4.
        else:
            if scheme is None or path is None or protocol is not None:
                raise _Malformed
        if path is not None and not path:
            raise _Malformed  # Section 8.3.1: :path is never empty.
        if authority is None and host is None:
            raise _Malformed
        if not (method.isascii() and (scheme is None or scheme.isascii())):
            raise _Malformed
        if protocol is not None and not protocol.isascii():
            raise _Malformed
        stream.expected_length = content_length
        if ended and stream.expected_length > 0:
            raise _Malformed  # Section 8.1.1: the body it announced never comes.
        stream_id = stream.stream_id
        self._idle_frames = 0
        if stream_id > self.highest_stream_id:
            self.highest_stream_id = stream_id
        goaway_last = self.goaway_last
        if goaway_last is not None and stream_id > goaway_last:
            # After the final GOAWAY (section 6.8): not processed, so the
            # client may retry it on another connection.
            self._reset_stream(stream, REFUSED_STREAM)
            return
        if authority is not None:
            headers.insert(0, (b"host", authority))
        if cookies is not None:
            headers.append((b"cookie", b"; ".join(cookies)))
        if len(headers) > self.settings.max_headers:
            stream.dispatched = True
            events.append(
                RequestRejected(stream_id, 431, "Request header fields too large: too many")
            )
            if ended:
                events.append(RequestEnded(stream_id))
            return
        if protocol is not None and not self.enable_connect_protocol:
            # RFC 8441 section 4: :protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL
            # is a malformed request, a stream error (section 8.1.1).
            self._reset_stream(stream, PROTOCOL_ERROR)
            return
        stream.dispatched = True
        method_name = method.decode("ascii")
        if method_name == "CONNECT" and protocol is None:
            # Section 8.5: a plain CONNECT asks for a tunnel, which hurtle does not relay.
            events.append(RequestRejected(stream_id, 501, "CONNECT is not supported"))
            if ended:
                events.append(RequestEnded(stream_id))
            return
        protocol_name: str | None = None
        if protocol is not None:
            stream.tunnel = True
            protocol_name = protocol.decode("ascii")
        events.append(
            RequestReceived(
                stream_id,
                method_name,
                path if path is not None else b"",
                headers,
                scheme.decode("ascii") if scheme is not None else None,
                protocol_name,
                ended,
            )
        )
        if ended:
            events.append(RequestEnded(stream_id))

    # -- the other frames ---------------------------------------------------------------

    def _window_update(
        self, stream_id: int, buffer: bytes, start: int, end: int, events: list[H2Event]
    ) -> None:
        if end - start != 4:
            raise _ConnectionError(FRAME_SIZE_ERROR, "WINDOW_UPDATE of other than 4 bytes")
        increment = self._depends_on(buffer, start)
        if not increment:
            raise _ConnectionError(PROTOCOL_ERROR, "WINDOW_UPDATE of 0")  # Section 6.9.
        if not stream_id:
            window = self._send_window + increment
            if window > MAX_WINDOW:
                raise _ConnectionError(FLOW_CONTROL_ERROR, "connection window over 2^31-1")
            self._send_window = window
            self._count_idle_frame(events)
            events.append(WindowOpened(0))
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            if stream_id > self._highest_inbound:
                raise _ConnectionError(PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream")
            self._count_idle_frame(events)  # Closed: ignored (section 5.1).
            return
        window = stream.send_window + increment
        if window > MAX_WINDOW:
            # Section 6.9.1: a stream error FLOW_CONTROL_ERROR.
            self._stream_error(stream, FLOW_CONTROL_ERROR, events)
            return
        stream.send_window = window
        self._count_idle_frame(events)
        events.append(WindowOpened(stream_id))

    def _rst_stream(
        self, stream_id: int, buffer: bytes, start: int, end: int, events: list[H2Event]
    ) -> None:
        if not stream_id:
            raise _ConnectionError(PROTOCOL_ERROR, "RST_STREAM on stream 0")  # Section 6.4.
        if end - start != 4:
            raise _ConnectionError(FRAME_SIZE_ERROR, "RST_STREAM of other than 4 bytes")
        stream = self._streams.get(stream_id)
        if stream is None:
            # Idle or closed: nothing to end, and never a reset answering a reset (5.4.2).
            self._count_idle_frame(events)
            return
        self._close(stream, _CLOSED_BY_RESET)
        self._reset_happened(stream, _u32(buffer, start), True, events)

    def _settings(
        self,
        flags: int,
        stream_id: int,
        buffer: bytes,
        start: int,
        end: int,
        events: list[H2Event],
    ) -> None:
        if stream_id:
            raise _ConnectionError(PROTOCOL_ERROR, "SETTINGS on a stream")  # Section 6.5.
        if flags & FLAG_ACK:
            if end != start:
                raise _ConnectionError(FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            self._count_idle_frame(events)
            return
        if (end - start) % 6:
            raise _ConnectionError(FRAME_SIZE_ERROR, "SETTINGS not a multiple of 6 bytes")
        self._apply_settings(buffer, start, end)
        self._output.append(settings_ack_frame())
        self._count_idle_frame(events)
        # A new SETTINGS_INITIAL_WINDOW_SIZE changes every stream's window.
        events.append(WindowOpened(0))

    def _apply_settings(self, buffer: bytes, start: int, end: int) -> None:
        """The client's SETTINGS (RFC 9113 section 6.5.2), all checked before any applies."""
        values: dict[int, int] = {}
        for position in range(start, end - 5, 6):
            values[(buffer[position] << 8) | buffer[position + 1]] = _u32(buffer, position + 2)
        for code, value in values.items():
            if code in (SETTINGS_ENABLE_PUSH, SETTINGS_ENABLE_CONNECT_PROTOCOL) and value > 1:
                raise _ConnectionError(PROTOCOL_ERROR, "a boolean setting not 0 or 1")
            if code == SETTINGS_INITIAL_WINDOW_SIZE and value > MAX_WINDOW:
                raise _ConnectionError(FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2^31-1")
            if code == SETTINGS_MAX_FRAME_SIZE and not (
                MIN_MAX_FRAME_SIZE <= value <= MAX_MAX_FRAME_SIZE
            ):
                raise _ConnectionError(PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range")
        for code, value in values.items():
            if code == SETTINGS_INITIAL_WINDOW_SIZE:
                # Section 6.9.2: the change applies to every stream's window.
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                if delta:
                    for stream in self._streams.values():
                        window = stream.send_window + delta
                        if window > MAX_WINDOW:
                            raise _ConnectionError(FLOW_CONTROL_ERROR, "a window over 2^31-1")
                        stream.send_window = window
            elif code == SETTINGS_MAX_FRAME_SIZE:
                self._peer_max_frame_size = value
            elif code == SETTINGS_HEADER_TABLE_SIZE:
                self._encoder.header_table_size = value  # RFC 7541 section 4.2

    # -- stream endings ---------------------------------------------------------------

    def _remote_ended(self, stream: _Stream) -> None:
        stream.remote_open = False
        if not stream.local_open:
            self._close(stream, _CLOSED_BY_END)

    def _close(self, stream: _Stream, how: int) -> None:
        del self._streams[stream.stream_id]
        self._remember_closed(stream.stream_id, how)

    def _remember_closed(self, stream_id: int, how: int) -> None:
        closed = self._closed_streams
        closed[stream_id] = how
        if len(closed) > CLOSED_STREAMS_KEPT:
            # The oldest goes: a later frame on it meets "closed implicitly".
            del closed[next(iter(closed))]

    def _stream_error(self, stream: _Stream, error_code: int, events: list[H2Event]) -> None:
        """RFC 9113 section 5.4.2: RST_STREAM; the app behind it, if any, hears of it."""
        self._output.append(rst_stream_frame(stream.stream_id, error_code))
        self._close(stream, _CLOSED_BY_RESET)
        self._reset_happened(stream, error_code, False, events)

    def _reset_happened(
        self, stream: _Stream, error_code: int, by_client: bool, events: list[H2Event]
    ) -> None:
        stream_id = stream.stream_id
        dispatched = stream.dispatched
        stream.dispatched = False
        finished = self._finished
        if stream_id in finished:
            finished.discard(stream_id)
            return
        if not by_client and not dispatched:
            return  # A malformed request hurtle reset before any app saw it.
        # Resets the client causes hurtle to send (a malformed body, a window
        # overflow) spend the budget too: they free a stream slot while its
        # app may still run ("MadeYouReset", CVE-2025-8671).
        self._reset_budget -= 1
        events.append(StreamReset(stream_id, error_code))
        if self._reset_budget < 0:
            events.append(
                self._fail(ENHANCE_YOUR_CALM, "too many streams reset by the client (rapid reset)")
            )

    def _count_idle_frame(self, events: list[H2Event]) -> None:
        self._idle_frames += 1
        if self._idle_frames > IDLE_FRAME_BUDGET and not self.closed:
            events.append(
                self._fail(
                    ENHANCE_YOUR_CALM,
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
        stream = self._streams.get(stream_id)
        if stream is None or not stream.local_open or self.closed:
            return
        status_bytes = _STATUS_BYTES.get(status)
        if status_bytes is None:
            status_bytes = b"%d" % status
        headers = [(b":status", status_bytes)]
        headers.extend(fields)
        self._write_headers(stream, headers, end_stream)
        self._idle_frames = 0
        if end_stream:
            self._response_done(stream)

    def send_trailers(self, stream_id: int, fields: Iterable[tuple[bytes, bytes]]) -> None:
        """The trailer section: a HEADERS frame that ends the stream (RFC 9113 section 8.1)."""
        stream = self._streams.get(stream_id)
        if stream is None or not stream.local_open or self.closed:
            return
        self._write_headers(stream, list(fields), True)
        self._idle_frames = 0
        self._response_done(stream)

    def _write_headers(
        self, stream: _Stream, headers: list[tuple[bytes, bytes]], end_stream: bool
    ) -> None:
        block = self._encoder.encode(headers)
        size = len(block)
        frame_size = self._peer_max_frame_size
        flags = FLAG_END_STREAM if end_stream else 0
        output = self._output
        stream_id = stream.stream_id
        if size <= frame_size:
            output.append(frame_head(size, HEADERS, flags | FLAG_END_HEADERS, stream_id))
            output.append(block)
        else:
            # Section 4.3: the rest of the block in CONTINUATION frames.
            output.append(frame_head(frame_size, HEADERS, flags, stream_id))
            output.append(block[:frame_size])
            position = frame_size
            while position < size:
                piece = block[position : position + frame_size]
                position += len(piece)
                last = FLAG_END_HEADERS if position >= size else 0
                output.append(frame_head(len(piece), CONTINUATION, last, stream_id))
                output.append(piece)
        if end_stream:
            self._local_ended(stream)

    def _local_ended(self, stream: _Stream) -> None:
        stream.local_open = False
        if not stream.remote_open:
            self._close(stream, _CLOSED_BY_END)

    def send_data(self, stream_id: int, data: bytes | memoryview, end_stream: bool) -> int:
        """Send as much of `data` as the windows allow; the number of bytes sent.

        When all of it went (and end_stream), the stream is ended too. The
        caller keeps the rest and calls again on WindowOpened. `data` is kept
        as it is until written, so it must not change: bytes, or a view of bytes.
        """
        stream = self._streams.get(stream_id)
        if stream is None or not stream.local_open or self.closed:
            return 0
        size = len(data)
        output = self._output
        if not size:
            if end_stream:
                output.append(frame_head(0, DATA, FLAG_END_STREAM, stream_id))
                self._local_ended(stream)
                self._response_done(stream)
            return 0
        # Section 6.9.1: never more than the smaller of the two windows.
        window = min(self._send_window, stream.send_window)
        if window <= 0:
            return 0
        frame_size = self._peer_max_frame_size
        if size <= window and size <= frame_size:
            flags = FLAG_END_STREAM if end_stream else 0
            output.append(frame_head(size, DATA, flags, stream_id))
            output.append(data)
            sent = size
        else:
            # Views, not copies: a 1 MiB body is 64 frames of 16 KiB, and
            # copying each payload cost a third of the CPU such a response takes.
            view = memoryview(data)
            sent = 0
            budget = min(size, window)
            while sent < budget:
                chunk = min(budget - sent, frame_size)
                last = end_stream and sent + chunk == size
                output.append(frame_head(chunk, DATA, FLAG_END_STREAM if last else 0, stream_id))
                output.append(view[sent : sent + chunk])
                sent += chunk
        self._send_window -= sent
        stream.send_window -= sent
        self._idle_frames = 0
        if end_stream and sent == size:
            self._local_ended(stream)
            self._response_done(stream)
        return sent

    def body_consumed(self, stream_id: int, size: int) -> None:
        """The app took `size` bytes of this stream's body: the client may send more."""
        if not self.closed:
            self._acknowledge(stream_id, size)

    def reset(self, stream_id: int, error_code: int = INTERNAL_ERROR) -> None:
        """End a stream that cannot complete (RST_STREAM)."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.dispatched = False
        if not self.closed:
            self._reset_stream(stream, error_code)

    def _reset_stream(self, stream: _Stream, error_code: int) -> None:
        stream.dispatched = False
        self._output.append(rst_stream_frame(stream.stream_id, error_code))
        self._close(stream, _CLOSED_BY_RESET)

    def stream_open(self, stream_id: int) -> bool:
        stream = self._streams.get(stream_id)
        return stream is not None and stream.dispatched

    def _response_done(self, stream: _Stream) -> None:
        if self._reset_budget < RESET_BUDGET:
            self._reset_budget += 1
        stream.dispatched = False
        stream.tunnel = False
        finished = self._finished
        finished.add(stream.stream_id)
        if len(finished) > 1024:
            finished.clear()  # Only for telling late resets apart; bounded.

    # -- closing ------------------------------------------------------------------

    def announce_shutdown(self) -> None:
        """The first GOAWAY of a graceful shutdown: last stream id 2^31-1, NO_ERROR.

        RFC 9113 section 6.8: the client stops opening streams, and those it
        opened while this was in flight are still served.
        """
        if not self.closed:
            self._output.append(goaway_frame(MAX_STREAM_ID, 0))

    def finish_shutdown(self) -> None:
        """The final GOAWAY: streams after the last one processed are refused."""
        if not self.closed and self.goaway_last is None:
            self.goaway_last = self.highest_stream_id
            self._output.append(goaway_frame(self.highest_stream_id, 0))

    def close(self, error_code: int = 0) -> None:
        """End the connection with a GOAWAY (the last, if others went before)."""
        if not self.closed:
            self.closed = True
            last = self.goaway_last if self.goaway_last is not None else self.highest_stream_id
            self._output.append(goaway_frame(last, error_code))

    def _fail(self, error_code: int, reason: str) -> ConnectionEnded:
        self.close(error_code)
        return ConnectionEnded(error_code, self.highest_stream_id, reason)

    def outgoing(self) -> bytes:
        """Everything to write now, in order, as one bytes object."""
        output = self._output
        self._output = []
        return b"".join(output)  # A single bytes object comes back as it is.

    def outgoing_pieces(self) -> list[bytes | memoryview]:
        """Everything to write now, in order, for `transport.writelines`.

        Small frames are joined into one piece (one copy of a few hundred
        bytes is cheaper than an iovec each), but a payload of at least
        _WRITE_AS_IS bytes stays the app's own buffer: the kernel copies it
        straight from there into the socket, as it does an HTTP/1.1 body.
        """
        output = self._output
        self._output = []
        pieces: list[bytes | memoryview] = []
        start = 0  # Of the run of small pieces not yet joined.
        for index, piece in enumerate(output):
            if len(piece) >= _WRITE_AS_IS:
                if start < index:
                    pieces.append(b"".join(output[start:index]))
                pieces.append(piece)
                start = index + 1
        if start < len(output):
            pieces.append(b"".join(output[start:] if start else output))
        return pieces


def _u32(buffer: bytes, start: int) -> int:
    return (
        (buffer[start] << 24)
        | (buffer[start + 1] << 16)
        | (buffer[start + 2] << 8)
        | buffer[start + 3]
    )


def _valid_value(value: bytes) -> bool:
    """RFC 9113 section 8.2.1: no NUL, CR or LF; no whitespace at either end."""
    if not value or value in _VALID_VALUES:
        return True
    # One translate(), not `in` three times: CPython's `bytes in bytes` first
    # tries the needle as an integer and formats a TypeError it throws away,
    # about 2,100 instructions each, 18 a request; find() costs a method call each.
    if len(value.translate(None, b"\r\n\x00")) != len(value):
        return False
    first = value[0]
    last = value[-1]
    if first == 0x20 or first == 0x09 or last == 0x20 or last == 0x09:
        return False
    if len(value) <= _VALID_VALUE_LONGEST_KEPT:
        if len(_VALID_VALUES) >= _VALID_VALUES_KEPT:
            _VALID_VALUES.clear()
        _VALID_VALUES.add(value)
    return True


def _valid_field(name: bytes, value: bytes) -> bool:
    if not name or name.translate(None, _NAME_BYTES) or name in _CONNECTION_SPECIFIC:
        return False
    if name == b"te" and value.lower() != b"trailers":
        return False
    return _valid_value(value)
