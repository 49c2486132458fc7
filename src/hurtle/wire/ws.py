"""WebSocket (RFC 6455, RFC 7692) without I/O, on the `websockets` sans-I/O core.

Theory of operation
-------------------
`WebSocketWire` wraps one `websockets.server.ServerProtocol`:

- `rejection()` checks the opening handshake before the app is asked, and
  returns the HTTP error to answer with (400, 405, 426 with
  Sec-WebSocket-Version, ...) or None;
- `accept(subprotocol, headers)` returns the bytes of the 101 response, with
  permessage-deflate negotiated when enabled;
- over HTTP/2 (RFC 8441, `http2=True`) there is no 101 and no
  Sec-WebSocket-Key: `accept_fields(subprotocol, headers)` returns the
  header fields of the `200` answer to the extended CONNECT, with the same
  subprotocol and extension negotiation, and the frames that follow are the
  same as on HTTP/1.1;
- `receive_data(data)` returns events: `MessageReceived` for each complete
  message (fragments reassembled, text decoded), `PongReceived`, and one
  final `WebSocketClosed` with the close code and reason;
- `send_text` / `send_bytes` / `send_close` / `send_ping` queue frames.

After any call, `outgoing()` returns the bytes to write and whether the TCP
connection should now be closed (the server closes first, RFC 6455 section
7.1.1).

Framing, masking, the close handshake, control frames, the message size limit
(also across fragments and after decompression, so a deflate bomb stops at
the limit) and permessage-deflate are the library's. This module adds what
it leaves to its user: message reassembly and UTF-8 validation of text, which
fails fast on the first invalid fragment (RFC 6455 section 8.1: 1007).

The fast path, and why it is hand-written
-----------------------------------------
Most frames on a busy connection are small, whole, unfragmented text or
binary messages. For those the library's generator-based parser and frame
objects cost more than everything else hurtle does per message (profiled:
about half the server's CPU in an echo benchmark), so this module frames
them itself, and only them:

- in: a frame is taken here when it is complete in the bytes at hand, has
  FIN set, RSV1-3 clear, opcode text (0x1) or binary (0x2), the mask bit set,
  a length within --ws-max-size, while the connection is OPEN and no
  fragmented message is in progress (RFC 6455 sections 5.2-5.4). Every other
  frame (control frames, fragments, compressed or malformed ones, frames
  split across reads) goes to the library whole or as far as it has arrived;
  `_owed` counts the bytes of that frame it has yet to see, so the library
  is back at a frame boundary exactly when this module resumes. A header
  the library will refuse (unmasked, too large) hands it the rest of the
  stream for good, and it fails the connection as it always would.
- out: without extensions, a text or binary message is one unmasked frame
  (section 5.2: a server never masks): a 2-, 4- or 10-byte header and the
  payload. With permessage-deflate the library frames (and compresses)
  every message.

Output keeps its order: everything the library writes (pongs, close frames)
is moved to `_out` right after the call that wrote it, before any frame this
module appends. tests/wire/test_ws_fast_path.py checks, on random streams
cut at random points, that both paths produce the same events and bytes.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C speedups are missing on this platform
    from websockets.utils import apply_mask

from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import CONNECTING, OPEN, State
from websockets.server import ServerProtocol
from websockets.typing import LoggerLike, Subprotocol

from hurtle.wire.headers import check_response_headers

__all__ = [
    "MessageReceived",
    "PongReceived",
    "Rejection",
    "WebSocketClosed",
    "WebSocketWire",
    "parse_subprotocols",
]

_SEND_EOF = b""
_FIN_TEXT = 0x81  # FIN, RSV1-3 clear, opcode 0x1 (RFC 6455 section 5.2)
_FIN_BINARY = 0x82
_MASKED = 0x80
_OPCODES = frozenset({0x0, 0x1, 0x2, 0x8, 0x9, 0xA})  # RFC 6455 section 5.2; others fail.
# Headers of unmasked frames with payloads of 0..125 bytes, the common case.
_SMALL_TEXT_HEADS = [bytes((_FIN_TEXT, n)) for n in range(126)]
_SMALL_BINARY_HEADS = [bytes((_FIN_BINARY, n)) for n in range(126)]


def _frame_head(first: int, length: int) -> bytes:
    """The header of an unmasked frame (RFC 6455 section 5.2: 7, 7+16 or 7+64 bit length)."""
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return bytes((first, 126)) + length.to_bytes(2, "big")
    return bytes((first, 127)) + length.to_bytes(8, "big")


class MessageReceived:
    __slots__ = ("data",)

    def __init__(self, data: str | bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"MessageReceived({self.data!r})"


class PongReceived:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class WebSocketClosed:
    """The connection is closed for the app: the peer's close code, or the failure's."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"WebSocketClosed({self.code}, {self.reason!r})"


WSEvent = MessageReceived | PongReceived | WebSocketClosed


class Rejection:
    """An HTTP answer to an opening handshake that cannot succeed."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class _ServerProtocol(ServerProtocol):
    """The library's protocol, with one rule changed.

    RFC 6455 section 5.4 lets control frames arrive between the fragments of
    a message, and section 5.5.1 says a Close frame is answered with a Close
    frame. The library instead fails the connection (1002) when a Close
    frame interrupts a fragmented message; here the unfinished message is
    dropped and the close handshake completes normally (Autobahn case 7.1.5).
    """

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE and self.current_size is not None:
            self.current_size = None
        super().recv_frame(frame)


def parse_subprotocols(headers: Sequence[tuple[bytes, bytes]]) -> list[str]:
    """The client's subprotocols, in its order (RFC 6455 section 4.1, item 10)."""
    result: list[str] = []
    for name, value in headers:
        if name == b"sec-websocket-protocol":
            result.extend(
                item.strip() for item in value.decode("latin-1").split(",") if item.strip()
            )
    return result


class WebSocketWire:
    def __init__(
        self,
        method: str,
        target: bytes,
        http_version: str,
        headers: Sequence[tuple[bytes, bytes]],
        *,
        max_size: int,
        per_message_deflate: bool,
        fast_path: bool = True,
        logger: LoggerLike | None = None,
        http2: bool = False,
    ) -> None:
        """`fast_path=False` lets the library frame everything: the reference the tests use.

        `logger` is where the library logs (its own `websockets.server` if None).
        `http2`: the handshake is an extended CONNECT (RFC 8441 section 5).
        """
        self._http2 = http2
        self._headers = Headers([(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers])
        self._request = Request(
            path=target.decode("latin-1"),
            headers=self._headers,
            method=method,
            protocol=f"HTTP/{http_version}",
        )
        self._version = [v for n, v in headers if n == b"sec-websocket-version"]
        self._chosen: str | None = None
        extensions = (
            [ServerPerMessageDeflateFactory(compress_settings={"memLevel": 8})]
            if per_message_deflate
            else None
        )

        def select_subprotocol(
            protocol: ServerProtocol, offered: Sequence[Subprotocol]
        ) -> Subprotocol | None:
            # The app chooses (websocket.accept), not the library.
            return Subprotocol(self._chosen) if self._chosen is not None else None

        self._logger = logger
        self._protocol = _ServerProtocol(
            extensions=extensions,
            select_subprotocol=select_subprotocol,
            max_size=max_size,
            logger=logger,
        )
        if not http2:
            # The library reads the handshake request from the stream before any
            # frame; llhttp has parsed it already, so hand it over in its own form.
            self._protocol.receive_data(self._request.serialize())
            self._protocol.events_received()
        # Reassembly of a fragmented message (RFC 6455 section 5.4).
        self._parts: list[bytes] = []
        self._text: list[str] = []
        self._decoder: codecs.IncrementalDecoder | None = None
        self._failed = False
        self._closed_event_sent = False
        # The fast path (see the module docstring).
        self._fast_path = fast_path
        self._max_size = max_size
        self._direct = False  # Every byte goes to the library from now on.
        self._owed = 0  # Bytes of a frame the library has started and not yet seen.
        self._head = b""  # An incomplete frame header, kept until the rest arrives.
        self._plain_send = False  # Messages framed here: open, no extension, no debug log.
        self._out: list[bytes] = []  # Bytes to write, in order (the library's moved here).

    # -- the opening handshake (RFC 6455 section 4.2) ---------------------------

    def rejection(self) -> Rejection | None:
        """The HTTP error for a handshake that cannot succeed, else None."""
        if self._http2:
            return self._h2_rejection()
        if self._version and self._version != [b"13"]:
            # RFC 6455 section 4.2.2 item 4: name the version we speak.
            return Rejection(
                426,
                [(b"sec-websocket-version", b"13"), (b"content-type", b"text/plain")],
                b"Unsupported WebSocket version: only version 13 is spoken here.\n",
            )
        probe = ServerProtocol(extensions=self._protocol.available_extensions, logger=self._logger)
        response = probe.accept(self._request)
        if response.status_code == 101:
            return None
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.raw_items()
            if name.lower() in ("allow", "upgrade", "sec-websocket-version")
        ]
        headers.append((b"content-type", b"text/plain"))
        return Rejection(response.status_code, headers, bytes(response.body))

    def accept(
        self, subprotocol: str | None, headers: Sequence[object], server_header: bool
    ) -> bytes:
        """The 101 response; raises InvalidResponse for bad app headers."""
        extra = check_response_headers(headers)  # Same rules as HTTP responses.
        self._chosen = subprotocol
        response = self._protocol.accept(self._request)
        if response.status_code != 101:  # pragma: no cover - rejection() ran first
            raise RuntimeError(f"handshake failed after validation: {response.status_code}")
        if server_header and b"server" not in extra.names:
            response.headers["Server"] = "hurtle"
        for line in extra.lines:
            name, _, value = line.rstrip(b"\r\n").partition(b": ")
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        self._protocol.send_response(response)
        protocol = self._protocol
        # The library's own debug log would miss the frames framed here.
        self._direct = protocol.debug or not self._fast_path
        self._plain_send = not (protocol.extensions or protocol.debug or self._direct)
        return b"".join(protocol.data_to_send())

    def _h2_rejection(self) -> Rejection | None:
        # RFC 8441 section 5: Sec-WebSocket-Version and -Extensions keep their
        # RFC 6455 meaning; version 13 is required (RFC 6455 section 4.1 item
        # 9). 400, not 426: a 426 must carry Upgrade (RFC 9110 section
        # 15.5.22), which HTTP/2 forbids (RFC 9113 section 8.2.2).
        if self._version != [b"13"]:
            return Rejection(
                400,
                [(b"sec-websocket-version", b"13"), (b"content-type", b"text/plain")],
                b"Sec-WebSocket-Version: 13 is required.\n",
            )
        try:
            self._protocol.process_extensions(self._headers)
        except InvalidHandshake as exc:
            return Rejection(
                400,
                [(b"content-type", b"text/plain")],
                f"Invalid Sec-WebSocket-Extensions: {exc}\n".encode("latin-1", "replace"),
            )
        return None

    def accept_fields(
        self, subprotocol: str | None, headers: Sequence[object]
    ) -> list[tuple[bytes, bytes]]:
        """HTTP/2: the fields of the 200 that accepts the extended CONNECT (RFC 8441
        section 5), without :status; raises InvalidResponse for bad app headers."""
        extra = check_response_headers(headers)  # Same rules as HTTP responses.
        self._chosen = subprotocol
        connecting = self._protocol
        # A protocol that starts OPEN: the handshake was HTTP/2's, not the library's.
        protocol = self._protocol = _ServerProtocol(
            extensions=connecting.available_extensions,
            state=OPEN,
            max_size=self._max_size,
            logger=self._logger,
        )
        value, protocol.extensions = connecting.process_extensions(self._headers)
        protocol.subprotocol = Subprotocol(subprotocol) if subprotocol is not None else None
        fields: list[tuple[bytes, bytes]] = []
        if subprotocol is not None:
            fields.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        if value is not None:
            fields.append((b"sec-websocket-extensions", value.encode("latin-1")))
        fields.extend(extra.pairs)
        self._direct = protocol.debug or not self._fast_path
        self._plain_send = not (protocol.extensions or protocol.debug or self._direct)
        return fields

    @property
    def subprotocol(self) -> str | None:
        return self._chosen

    @property
    def is_open(self) -> bool:
        return self._protocol.state is OPEN

    @property
    def is_connecting(self) -> bool:
        """The handshake has not been answered with a 101 (or was denied)."""
        return self._protocol.state is CONNECTING

    @property
    def state(self) -> State:
        return self._protocol.state

    # -- frames --------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[WSEvent]:
        events: list[WSEvent] = []
        if self._direct or self._protocol.state is not OPEN:
            self._direct = True  # A closing connection never reopens.
            if self._head:  # Bytes of a header held back here come first.
                data, self._head = self._head + data, b""
            self._to_library(data, events)
        else:
            self._receive_frames(data, events)
        self._closed_events(events)
        return events

    def _receive_frames(self, data: bytes, events: list[WSEvent]) -> None:
        """Take whole plain data frames here; hand the library everything else."""
        if self._head:
            data = self._head + data
            self._head = b""
        pos, end = 0, len(data)
        while pos < end:
            if self._owed:
                piece = data[pos : pos + self._owed]
                self._owed -= len(piece)
                pos += len(piece)
                if self._to_library(piece, events):
                    break
                continue
            if end - pos < 2:
                self._head = data[pos:]
                return
            first, second = data[pos], data[pos + 1]
            if first & 0x0F not in _OPCODES or not second & _MASKED:
                # The library fails the connection on these two bytes (1002).
                self._direct = True
                self._to_library(data[pos:], events)
                return
            length = second & 0x7F
            start = pos + 2
            if length >= 126:  # A 16-bit (126) or 64-bit (127) length follows.
                start += 2 if length == 126 else 8
                if start > end:
                    self._head = data[pos:]
                    return
                length = int.from_bytes(data[pos + 2 : start], "big")
            if length > self._max_size:
                # The library fails the connection on this header (1009).
                self._direct = True
                self._to_library(data[pos:], events)
                return
            stop = start + 4 + length  # The masking key, then the payload.
            if (
                stop <= end
                and first in (_FIN_TEXT, _FIN_BINARY)
                and self._decoder is None
                and not self._parts
            ):
                start += 4
                payload = apply_mask(data[start:stop], data[start - 4 : start])
                pos = stop
                if first == _FIN_BINARY:
                    events.append(MessageReceived(payload))
                    continue
                try:
                    events.append(MessageReceived(payload.decode("utf-8")))
                except UnicodeDecodeError:
                    self._fail_utf8()
                    break
                continue
            # Not a plain whole data frame: the library takes it, as far as it came.
            piece = data[pos:stop]
            self._owed = stop - pos - len(piece)
            pos += len(piece)
            if self._to_library(piece, events):
                break
        if pos < end:
            # Closing or failed: the library answers (or discards) the rest.
            self._direct = True
            self._to_library(data[pos:], events)

    def _to_library(self, data: bytes, events: list[WSEvent]) -> bool:
        """Feed the library; True once the connection is no longer open or has failed."""
        protocol = self._protocol
        protocol.receive_data(data)
        self._library_frames(events)
        return protocol.state is not OPEN or self._failed

    def _library_frames(self, events: list[WSEvent]) -> None:
        protocol = self._protocol
        for frame in protocol.events_received():
            if self._failed:
                break  # Invalid UTF-8 failed the connection: nothing after it counts.
            if not isinstance(frame, Frame):  # pragma: no cover - only frames once open
                continue
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
                message = self._assemble(opcode, bytes(frame.data), frame.fin)
                if message is not None:
                    events.append(MessageReceived(message))
            elif opcode is Opcode.PONG:
                events.append(PongReceived(bytes(frame.data)))
            elif opcode is Opcode.CLOSE:
                self._parts, self._text, self._decoder = [], [], None  # Unfinished: dropped.
                break
        self._take_output()

    def _take_output(self) -> None:
        """Move what the library wrote to `_out`, ahead of any frame framed here later."""
        writes = self._protocol.data_to_send()
        if writes:
            self._out += writes

    def receive_eof(self) -> list[WSEvent]:
        protocol = self._protocol
        if self._head:  # The library sees the same truncated stream as a peer did.
            protocol.receive_data(self._head)
            self._head = b""
        protocol.receive_eof()
        events: list[WSEvent] = []
        self._library_frames(events)
        self._closed_events(events)
        return events

    def _assemble(self, opcode: Opcode, data: bytes, fin: bool) -> str | bytes | None:
        if opcode is Opcode.TEXT:
            if fin:
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError:
                    self._fail_utf8()
                    return None
            self._decoder = codecs.getincrementaldecoder("utf-8")()
        elif opcode is Opcode.BINARY:
            if fin:
                return data
            self._parts = [data]
            return None
        decoder = self._decoder
        if decoder is None:  # A continuation of a binary message.
            self._parts.append(data)
            if not fin:
                return None
            message = b"".join(self._parts)
            self._parts = []
            return message
        try:
            self._text.append(decoder.decode(data, final=fin))
        except UnicodeDecodeError:
            self._fail_utf8()
            return None
        if not fin:
            return None
        text = "".join(self._text)
        self._text = []
        self._decoder = None
        return text

    def _fail_utf8(self) -> None:
        # RFC 6455 section 8.1: invalid UTF-8 in a text message fails the connection.
        self._parts, self._text, self._decoder = [], [], None
        self._failed = True
        if self._protocol.state is OPEN:
            self._protocol.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
            self._take_output()

    def _closed_events(self, events: list[WSEvent]) -> None:
        """Append the one WebSocketClosed event once the connection is closed for the app."""
        if self._closed_event_sent:
            return
        protocol = self._protocol
        if protocol.close_rcvd is not None:
            # The peer's close frame: its code, whoever started the handshake.
            code, reason = protocol.close_rcvd.code, protocol.close_rcvd.reason
        elif protocol.close_sent is not None and protocol.eof_sent:
            # We failed the connection (1002, 1007, 1009, ...).
            code, reason = protocol.close_sent.code, protocol.close_sent.reason
        elif protocol.state.name == "CLOSED":
            code, reason = CloseCode.ABNORMAL_CLOSURE, ""  # TCP closed with no close frame.
        else:
            return
        self._closed_event_sent = True
        events.append(WebSocketClosed(int(code), reason))

    # -- sending -------------------------------------------------------------

    def send_text(self, text: str) -> None:
        self._send_message(text.encode("utf-8"), True)

    def send_bytes(self, data: bytes) -> None:
        self._send_message(data, False)

    def _send_message(self, data: bytes, text: bool) -> None:
        if self._plain_send and self._protocol.state is OPEN:
            length = len(data)
            if length < 126:
                heads = _SMALL_TEXT_HEADS if text else _SMALL_BINARY_HEADS
                self._out.append(heads[length] + data)
            else:
                self._out += (_frame_head(_FIN_TEXT if text else _FIN_BINARY, length), data)
            return
        if text:
            self._protocol.send_text(data)
        else:
            self._protocol.send_binary(data)
        self._take_output()

    def send_ping(self, data: bytes) -> None:
        self._protocol.send_ping(data)
        self._take_output()

    def send_close(self, code: int, reason: str) -> None:
        if self._protocol.state is OPEN:
            self._protocol.send_close(code, reason)
            self._take_output()

    def fail(self, code: int, reason: str) -> list[WSEvent]:
        """Fail the connection (RFC 6455 section 7.1.7): close frame, then TCP close."""
        if self._protocol.state is OPEN:
            self._protocol.fail(code, reason)
            self._take_output()
        events: list[WSEvent] = []
        if not self._closed_event_sent:
            self._closed_event_sent = True
            events.append(WebSocketClosed(code, reason))
        return events

    def outgoing(self) -> tuple[bytes, bool]:
        """Bytes to write, and whether to close the TCP connection after them."""
        self._take_output()
        writes = self._out
        if not writes:
            return b"", False
        self._out = []
        # The library marks "close the TCP connection now" with an empty write.
        close = _SEND_EOF in writes
        return b"".join(writes), close
