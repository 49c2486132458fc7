"""WebSockets end to end (RFC 6455, RFC 7692, asgiref www.rst), on both event loops.

Well-behaved peers are the `websockets` client; hostile ones are raw sockets
that write frames by hand.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, read_to_eof, wait_for

Serve = Callable[..., InProcessServer]
Events = list[dict[str, Any]]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def ws_url(server: InProcessServer, path: str = "/ws") -> str:
    return server.url.replace("http://", "ws://") + path


def recording_app(events: Events, on_connect: dict[str, Any] | None = None) -> Any:
    """Echoes messages; records every message it receives and what send raised."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        while True:
            message = await receive()
            events.append(dict(message))
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept", **(on_connect or {})})
            elif message["type"] == "websocket.receive":
                if message.get("text") == "close-me":
                    await send({"type": "websocket.close", "code": 4001, "reason": "as asked"})
                    continue
                await send(
                    {
                        "type": "websocket.send",
                        **{k: v for k, v in message.items() if k in ("text", "bytes")},
                    }
                )
            else:
                try:
                    await send({"type": "websocket.send", "text": "too late"})
                except OSError as exc:
                    events.append({"type": "send-raised", "error": type(exc).__name__})
                events.append(dict(await receive()))
                return

    return app


# -- handshake and scope ----------------------------------------------------------


def test_echo_text_and_bytes(serve_app: Serve) -> None:
    events: Events = []
    server = serve_app(recording_app(events))

    async def client() -> None:
        async with connect(ws_url(server)) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00\x01binary")
            assert await ws.recv() == b"\x00\x01binary"
            await ws.send("é" * 10000)
            assert await ws.recv() == "é" * 10000

    run(client())
    wait_for(lambda: events[-1]["type"] == "websocket.disconnect")
    assert events[0] == {"type": "websocket.connect"}
    assert events[1] == {"type": "websocket.receive", "text": "hello"}
    assert events[2] == {"type": "websocket.receive", "bytes": b"\x00\x01binary"}


def test_websocket_scope(serve_app: Serve) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["ready"] = True
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "chat.v2"})
        await send({"type": "websocket.close"})

    server = serve_app(app, root_path="/base")

    async def client() -> str | None:
        async with connect(
            ws_url(server, "/room%201?x=1"),
            subprotocols=["chat.v1", "chat.v2"],  # type: ignore[list-item]
            additional_headers={"X-Token": "abc"},
        ) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.subprotocol

    assert run(client()) == "chat.v2"
    scope = scopes[0]
    assert scope["type"] == "websocket"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["scheme"] == "ws"
    assert scope["http_version"] == "1.1"
    assert scope["path"] == "/base/room 1"
    assert scope["raw_path"] == b"/base/room%201"
    assert scope["root_path"] == "/base"
    assert scope["query_string"] == b"x=1"
    assert scope["subprotocols"] == ["chat.v1", "chat.v2"]
    assert (b"x-token", b"abc") in scope["headers"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ("127.0.0.1", server.port)
    assert scope["state"] == {"ready": True}
    assert "websocket.http.response" in scope["extensions"]


def test_accept_with_extra_headers(serve_app: Serve) -> None:
    server = serve_app(recording_app([], {"headers": [(b"x-room", b"blue")]}))

    async def client() -> Any:
        async with connect(ws_url(server)) as ws:
            assert ws.response is not None
            return ws.response.headers

    headers = run(client())
    assert headers["X-Room"] == "blue"
    assert headers["Server"] == "hurtle"


def test_close_before_accept_is_403(serve_app: Serve) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.close"})

    server = serve_app(app)

    async def client() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(server)):
                pass
        assert info.value.response.status_code == 403

    run(client())


def test_denial_response_extension(serve_app: Serve) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        headers = [(b"content-type", b"text/plain"), (b"x-why", b"token")]
        await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"entry"})

    server = serve_app(app)

    async def client() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(server)):
                pass
        response = info.value.response
        assert response.status_code == 401
        assert response.headers["X-Why"] == "token"
        assert response.body == b"no entry"

    run(client())


def test_app_error_before_accept_is_500(serve_app: Serve) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        raise RuntimeError("broken before accept")

    server = serve_app(app)

    async def client() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(server)):
                pass
        assert info.value.response.status_code == 500

    run(client())


@pytest.mark.parametrize(
    ("request_headers", "status"),
    [
        (b"Sec-WebSocket-Version: 13\r\n", 400),  # No Sec-WebSocket-Key.
        (b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 8\r\n", 426),
        (b"Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n", 400),
    ],
)
def test_bad_handshake(serve_app: Serve, request_headers: bytes, status: int) -> None:
    """RFC 6455 section 4.2.2: a bad handshake is an HTTP error; 426 names version 13."""
    called: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope["type"])

    server = serve_app(app)
    key = base64.b64encode(os.urandom(16))
    head = (
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + (request_headers.replace(b"%s", key) if b"%s" in request_headers else request_headers)
        + b"\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 %d " % status), reply
    if status == 426:
        assert b"sec-websocket-version: 13" in reply.lower()
    assert "websocket" not in called  # The app is never asked.


def test_ws_none_passes_upgrades_to_the_app_as_http(serve_app: Serve) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["type"].encode()})

    server = serve_app(app, ws="none")
    response = httpx.get(
        server.url,
        headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "x"},
    )
    assert response.status_code == 200 and response.text == "http"


# -- messages -------------------------------------------------------------------


def test_fragmented_message_is_reassembled(serve_app: Serve) -> None:
    events: Events = []
    server = serve_app(recording_app(events))

    async def client() -> None:
        async with connect(ws_url(server)) as ws:
            await ws.send(["frag", "ment", "ed"])
            assert await ws.recv() == "fragmented"
            await ws.send([b"a", b"b", b"c"])
            assert await ws.recv() == b"abc"

    run(client())
    assert {"type": "websocket.receive", "text": "fragmented"} in events


@pytest.mark.parametrize("deflate", [True, False])
def test_per_message_deflate(serve_app: Serve, deflate: bool) -> None:
    """RFC 7692: negotiated by default, off with --no-ws-per-message-deflate."""
    server = serve_app(recording_app([]), ws_per_message_deflate=deflate)

    async def client() -> list[Any]:
        async with connect(ws_url(server)) as ws:
            await ws.send("x" * 100000)
            assert await ws.recv() == "x" * 100000
            return list(ws.protocol.extensions)

    extensions = run(client())
    assert (len(extensions) == 1) is deflate


def test_client_ping_gets_pong(serve_app: Serve) -> None:
    server = serve_app(recording_app([]))

    async def client() -> None:
        async with connect(ws_url(server)) as ws:
            waiter = await ws.ping(b"are you there")
            await asyncio.wait_for(waiter, 5)

    run(client())


def test_server_pings_and_drops_a_silent_peer(serve_app: Serve) -> None:
    """RFC 6455 section 5.5.2: a peer that stops answering pings is closed."""
    events: Events = []
    server = serve_app(recording_app(events), ws_ping_interval=0.2, ws_ping_timeout=0.3)
    with _raw_websocket(server.port) as sock:
        frames = _read_frames(sock, until_close=True, timeout=10)
    opcodes = [opcode for opcode, _ in frames]
    assert 0x9 in opcodes  # A ping came, unanswered ...
    assert opcodes[-1] == 0x8  # ... then the close.
    assert struct.unpack("!H", frames[-1][1][:2])[0] == 1011
    wait_for(lambda: any(e["type"] == "websocket.disconnect" for e in events))


# -- close paths ----------------------------------------------------------------


def test_client_close_code_and_reason_reach_the_app(serve_app: Serve) -> None:
    events: Events = []
    server = serve_app(recording_app(events))

    async def client() -> None:
        async with connect(ws_url(server)) as ws:
            await ws.close(4000, "bye now")

    run(client())
    wait_for(lambda: bool(events) and events[-1]["type"] == "websocket.disconnect")
    disconnect = next(e for e in events if e["type"] == "websocket.disconnect")
    assert disconnect == {"type": "websocket.disconnect", "code": 4000, "reason": "bye now"}
    # After the close, send raises an OSError and receive keeps saying disconnect.
    assert {"type": "send-raised", "error": "ClientDisconnected"} in events
    assert events[-1]["type"] == "websocket.disconnect"


def test_app_close_code_reaches_the_client(serve_app: Serve) -> None:
    server = serve_app(recording_app([]))

    async def client() -> tuple[int, str]:
        async with connect(ws_url(server)) as ws:
            await ws.send("close-me")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            return info.value.rcvd.code, info.value.rcvd.reason

    assert run(client()) == (4001, "as asked")


@pytest.mark.parametrize(("raise_error", "code"), [(False, 1000), (True, 1011)])
def test_app_ending_after_accept(serve_app: Serve, raise_error: bool, code: int) -> None:
    """A returning app closes with 1000; a raising one with 1011 (RFC 6455 section 7.4.1)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        if raise_error:
            raise RuntimeError("broken after accept")

    server = serve_app(app)

    async def client() -> int:
        async with connect(ws_url(server)) as ws:
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            return info.value.rcvd.code

    assert run(client()) == code


def test_abrupt_disconnect_reaches_the_app_as_1006(serve_app: Serve) -> None:
    events: Events = []
    server = serve_app(recording_app(events))
    with _raw_websocket(server.port) as sock:
        sock.sendall(_frame(0x1, b"hi"))
        _read_frames(sock, count=1)
    wait_for(lambda: any(e["type"] == "websocket.disconnect" for e in events))
    disconnect = next(e for e in events if e["type"] == "websocket.disconnect")
    assert disconnect["code"] == 1006


def test_graceful_shutdown_closes_with_1012(loop_name: Any) -> None:
    events: Events = []
    server = InProcessServer(recording_app(events), loop_name)
    codes: list[int] = []

    async def client() -> None:
        async with connect(ws_url(server)) as ws:
            await ws.send("hi")
            await ws.recv()
            threading.Thread(target=server.stop).start()
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            codes.append(info.value.rcvd.code)

    try:
        run(client())
    finally:
        server.stop()
    assert codes == [1012]
    assert any(e["type"] == "websocket.disconnect" for e in events)


# -- hostile peers ----------------------------------------------------------------


def _close_code(frames: list[tuple[int, bytes]]) -> int:
    assert frames and frames[-1][0] == 0x8, frames
    code: int = struct.unpack("!H", frames[-1][1][:2])[0]
    return code


def test_message_over_the_limit_is_1009(serve_app: Serve) -> None:
    events: Events = []
    server = serve_app(recording_app(events), ws_max_size=1024)

    async def client() -> int:
        async with connect(ws_url(server)) as ws:
            await ws.send("x" * 1000)
            await ws.recv()
            await ws.send("x" * 2000)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            return info.value.rcvd.code

    assert run(client()) == 1009
    wait_for(lambda: any(e["type"] == "websocket.disconnect" for e in events))
    assert next(e["code"] for e in events if e["type"] == "websocket.disconnect") == 1009


def test_fragments_over_the_limit_are_1009(serve_app: Serve) -> None:
    server = serve_app(recording_app([]), ws_max_size=4096)
    with _raw_websocket(server.port) as sock:
        sock.sendall(_frame(0x2, b"a" * 1000, fin=False))
        for _ in range(10):
            sock.sendall(_frame(0x0, b"a" * 1000, fin=False))
        frames = _read_frames(sock, until_close=True)
    assert _close_code(frames) == 1009


def test_deflate_bomb_stops_at_the_limit(serve_app: Serve) -> None:
    """RFC 7692 + the size limit: 64 MiB of zeros compress to ~64 KiB; never inflated whole."""
    server = serve_app(recording_app([]), ws_max_size=1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(b"\x00" * (64 * 1024 * 1024)) + compressor.flush(
        zlib.Z_SYNC_FLUSH
    )
    payload = payload[:-4]  # RFC 7692 section 7.2.1: drop the trailing 00 00 ff ff.
    with _raw_websocket(server.port, extensions=b"permessage-deflate") as sock:
        sock.sendall(_frame(0x2, payload, rsv1=True))
        frames = _read_frames(sock, until_close=True)
    assert _close_code(frames) == 1009


def test_unmasked_frame_is_1002(serve_app: Serve) -> None:
    """RFC 6455 section 5.1: a server closes on an unmasked client frame."""
    server = serve_app(recording_app([]))
    with _raw_websocket(server.port) as sock:
        sock.sendall(b"\x81\x02hi")
        frames = _read_frames(sock, until_close=True)
    assert _close_code(frames) == 1002


def test_invalid_utf8_is_1007(serve_app: Serve) -> None:
    """RFC 6455 section 8.1: invalid UTF-8 in a text message fails the connection."""
    events: Events = []
    server = serve_app(recording_app(events))
    with _raw_websocket(server.port) as sock:
        sock.sendall(_frame(0x1, b"ok\xff\xfe", fin=False))
        frames = _read_frames(sock, until_close=True)
    assert _close_code(frames) == 1007
    wait_for(lambda: any(e["type"] == "websocket.disconnect" for e in events))
    assert not any(e["type"] == "websocket.receive" for e in events)


# -- backpressure -------------------------------------------------------------------


def test_peer_that_stops_reading_makes_send_wait(serve_app: Serve) -> None:
    sent = [0]
    total = 1000

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        block = os.urandom(65536)  # Incompressible, so compression cannot hide the size.
        try:
            for _ in range(total):
                await send({"type": "websocket.send", "bytes": block})
                sent[0] += 1
        except OSError:
            pass

    server = serve_app(app, ws_per_message_deflate=False)
    with _raw_websocket(server.port, rcvbuf=65536):
        wait_for(lambda: sent[0] > 0)
        time.sleep(0.5)
        stalled = sent[0]
        # 1,000 x 64 KiB = 64 MiB; the app is held back after a few buffers' worth.
        assert stalled < total // 4, f"the app sent {stalled} messages to a peer that reads nothing"


def test_app_that_stops_reading_pauses_the_socket(serve_app: Serve) -> None:
    release = threading.Event()
    received = [0]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while not release.is_set():
            await asyncio.sleep(0.02)
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            received[0] += 1

    server = serve_app(app, ws_max_queue=4, ws_per_message_deflate=False)
    block = os.urandom(65536)
    total = 1000
    with _raw_websocket(server.port) as sock:
        sock.setblocking(False)
        frame = _frame(0x2, block)
        sent, offset = 0, 0
        quiet_since = time.monotonic()
        while sent < total and time.monotonic() - quiet_since < 1.0:
            try:
                offset += sock.send(frame[offset:])
                quiet_since = time.monotonic()
                if offset == len(frame):
                    sent, offset = sent + 1, 0
            except BlockingIOError:
                time.sleep(0.01)
        assert sent < total // 2, f"{sent} messages were taken in while the app read nothing"
        release.set()
        sock.setblocking(True)
        sock.sendall(frame[offset:] + frame * (total - sent - 1))
        wait_for(lambda: received[0] == total, timeout=20)


# -- raw client helpers ---------------------------------------------------------------


class _raw_websocket:
    """A hand-driven WebSocket client: handshake done, then raw frames."""

    def __init__(
        self, port: int, extensions: bytes | None = None, rcvbuf: int | None = None
    ) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16))
        extra = b"Sec-WebSocket-Extensions: %s\r\n" % extensions if extensions else b""
        self.sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % (key, extra)
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise AssertionError("no handshake response")
            head += chunk
        assert head.startswith(b"HTTP/1.1 101 "), head

    def __enter__(self) -> socket.socket:
        return self.sock

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def _frame(
    opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False, mask: bool = True
) -> bytes:
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = (
        bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        if length < 4096
        else _mask(payload, key)
    )
    return head + key + masked


def _mask(payload: bytes, key: bytes) -> bytes:
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


def _read_frames(
    sock: socket.socket, count: int | None = None, until_close: bool = False, timeout: float = 10
) -> list[tuple[int, bytes]]:
    """Server frames (unmasked) until `count` frames, a close frame, or EOF."""
    sock.settimeout(timeout)
    buffer = b""
    frames: list[tuple[int, bytes]] = []
    while True:
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, offset = struct.unpack("!H", buffer[2:4])[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, offset = struct.unpack("!Q", buffer[2:10])[0], 10
            if len(buffer) < offset + length:
                break
            frames.append((opcode, buffer[offset : offset + length]))
            buffer = buffer[offset + length :]
            if (count is not None and len(frames) >= count) or (until_close and opcode == 0x8):
                return frames
        chunk = sock.recv(65536)
        if not chunk:
            return frames
        buffer += chunk


def test_limit_concurrency_answers_503_to_upgrades(serve_app: Serve) -> None:
    server = serve_app(recording_app([]), limit_concurrency=1)

    async def client() -> None:
        async with connect(ws_url(server)) as first:
            await first.send("hold")
            await first.recv()
            with pytest.raises(InvalidStatus) as info:
                async with connect(ws_url(server)):
                    pass
            assert info.value.response.status_code == 503
            assert info.value.response.headers["Retry-After"] == "1"

    run(client())
