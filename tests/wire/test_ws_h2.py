"""WebSocketWire for HTTP/2 (RFC 8441): the handshake is an extended CONNECT, answered
with header fields for a 200; the frames after it are RFC 6455's."""

from __future__ import annotations

import os

from websockets.frames import Frame, Opcode

from hurtle.wire.ws import MessageReceived, WebSocketClosed, WebSocketWire


def wire(headers: list[tuple[bytes, bytes]], deflate: bool = True) -> WebSocketWire:
    return WebSocketWire(
        "GET",
        b"/chat",
        "2",
        [(b"host", b"example.test"), *headers],
        max_size=1000,
        per_message_deflate=deflate,
        http2=True,
    )


def masked(opcode: Opcode, data: bytes) -> bytes:
    return Frame(opcode, data).serialize(mask=True, extensions=[])


def test_version_13_is_required_with_a_400() -> None:
    """RFC 8441 section 5 keeps Sec-WebSocket-Version; a 426 would need Upgrade."""
    for headers in ([], [(b"sec-websocket-version", b"8")]):
        rejection = wire(headers).rejection()
        assert rejection is not None and rejection.status == 400
        assert (b"sec-websocket-version", b"13") in rejection.headers
    assert wire([(b"sec-websocket-version", b"13")]).rejection() is None


def test_a_malformed_extensions_header_is_a_400() -> None:
    headers = [(b"sec-websocket-version", b"13"), (b"sec-websocket-extensions", b";;=")]
    rejection = wire(headers).rejection()
    assert rejection is not None and rejection.status == 400


def test_accept_fields_negotiate_and_open_the_connection() -> None:
    headers = [
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-protocol", b"a, b"),
        (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
    ]
    ws = wire(headers)
    assert ws.is_connecting
    fields = ws.accept_fields("b", [(b"x-app", b"1")])
    names = [name for name, _ in fields]
    assert b"sec-websocket-accept" not in names
    assert (b"sec-websocket-protocol", b"b") in fields and (b"x-app", b"1") in fields
    assert dict(fields)[b"sec-websocket-extensions"].startswith(b"permessage-deflate")
    assert ws.is_open and not ws.is_connecting and ws.subprotocol == "b"
    assert ws.outgoing() == (b"", False)  # No 101: the 200 is HTTP/2's HEADERS.


def test_frames_flow_as_over_http_1_1() -> None:
    ws = wire([(b"sec-websocket-version", b"13")], deflate=False)
    ws.accept_fields(None, [])
    payload = os.urandom(40)
    events = ws.receive_data(masked(Opcode.TEXT, b"hi") + masked(Opcode.BINARY, payload))
    assert [e.data for e in events if isinstance(e, MessageReceived)] == ["hi", payload]
    ws.send_text("yo")
    assert ws.outgoing() == (b"\x81\x02yo", False)
    events = ws.receive_data(masked(Opcode.BINARY, b"x" * 1001))  # Over max_size.
    closed = [e for e in events if isinstance(e, WebSocketClosed)]
    assert closed and closed[0].code == 1009
    data, close = ws.outgoing()
    assert data[0] == 0x88 and int.from_bytes(data[2:4], "big") == 1009  # A close frame.
    assert close  # END_STREAM follows, as TCP's close would.
