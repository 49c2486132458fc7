"""WebSocket (RFC 6455, RFC 7692) without I/O, on the `websockets` sans-I/O core.

Theory of operation
-------------------
`WebSocketWire` wraps one `websockets.server.ServerProtocol`:

- `rejection()` checks the opening handshake before the app is asked, and
  returns the HTTP error to answer with (400, 405, 426 with
  Sec-WebSocket-Version, ...) or None;
- `accept(subprotocol, headers)` returns the bytes of the 101 response, with
  permessage-deflate negotiated when enabled;
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
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import CONNECTING, OPEN, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

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
    ) -> None:
        self._request = Request(
            path=target.decode("latin-1"),
            headers=Headers([(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]),
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

        self._protocol = _ServerProtocol(
            extensions=extensions, select_subprotocol=select_subprotocol, max_size=max_size
        )
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

    # -- the opening handshake (RFC 6455 section 4.2) ---------------------------

    def rejection(self) -> Rejection | None:
        """The HTTP error for a handshake that cannot succeed, else None."""
        if self._version and self._version != [b"13"]:
            # RFC 6455 section 4.2.2 item 4: name the version we speak.
            return Rejection(
                426,
                [(b"sec-websocket-version", b"13"), (b"content-type", b"text/plain")],
                b"Unsupported WebSocket version: only version 13 is spoken here.\n",
            )
        probe = ServerProtocol(extensions=self._protocol.available_extensions)
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
        return b"".join(self._protocol.data_to_send())

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
        protocol = self._protocol
        protocol.receive_data(data)
        events: list[WSEvent] = []
        for frame in protocol.events_received():
            if not isinstance(frame, Frame):  # pragma: no cover - only frames once open
                continue
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT:
                message = self._assemble(opcode, bytes(frame.data), frame.fin)
                if message is not None:
                    events.append(MessageReceived(message))
                elif self._failed:
                    break  # Invalid UTF-8 failed the connection: nothing after it counts.
            elif opcode is Opcode.PONG:
                events.append(PongReceived(bytes(frame.data)))
            elif opcode is Opcode.CLOSE:
                self._parts, self._text, self._decoder = [], [], None  # Unfinished: dropped.
                break
        self._closed_events(events)
        return events

    def receive_eof(self) -> list[WSEvent]:
        self._protocol.receive_eof()
        events: list[WSEvent] = []
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
        self._protocol.send_text(text.encode("utf-8"))

    def send_bytes(self, data: bytes) -> None:
        self._protocol.send_binary(data)

    def send_ping(self, data: bytes) -> None:
        self._protocol.send_ping(data)

    def send_close(self, code: int, reason: str) -> None:
        if self._protocol.state is OPEN:
            self._protocol.send_close(code, reason)

    def fail(self, code: int, reason: str) -> list[WSEvent]:
        """Fail the connection (RFC 6455 section 7.1.7): close frame, then TCP close."""
        if self._protocol.state is OPEN:
            self._protocol.fail(code, reason)
        events: list[WSEvent] = []
        if not self._closed_event_sent:
            self._closed_event_sent = True
            events.append(WebSocketClosed(code, reason))
        return events

    def outgoing(self) -> tuple[bytes, bool]:
        """Bytes to write, and whether to close the TCP connection after them."""
        writes = self._protocol.data_to_send()
        if not writes:
            return b"", False
        close = _SEND_EOF in writes
        return b"".join(writes), close
