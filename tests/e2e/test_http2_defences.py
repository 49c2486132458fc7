"""HTTP/2 defences end to end: raw frames (tests/h2_frames.py) over a plain socket to a
real hurtle. Each attack gets the answer RFC 9113 gives it, never a crash or a hang."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hyperframe.frame import DataFrame, GoAwayFrame, HeadersFrame

from h2_frames import (
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    FrameWriter,
    H2Client,
    RawConnection,
    goaway,
    request_headers,
    resets,
)
from hurtle.asgi.types import Receive, Scope, Send
from hurtle.wire.h2 import IDLE_FRAME_BUDGET, RESET_BUDGET
from support import InProcessServer, wait_for

Serve = Callable[..., InProcessServer]


class CountingApp:
    """Counts app starts; records the messages `receive()` gave each request."""

    def __init__(self) -> None:
        self.starts = 0
        self.messages: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        with self.lock:
            self.starts += 1
        seen: list[dict[str, Any]] = []
        self.messages.append(seen)
        if scope["method"] == "POST":
            while True:
                message = await receive()
                seen.append({"type": message["type"], "more_body": message.get("more_body")})
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    break
            if seen[-1]["type"] == "http.disconnect":
                return
        elif scope["path"] == "/wait":
            await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def counting() -> CountingApp:
    return CountingApp()


def served_after(port: int) -> None:
    """Another connection is served normally: the server is alive and well."""
    client = H2Client(port)
    assert client.wait_response(client.request(b"/"))[0] == 200
    client.close()


def test_streams_reset_in_the_same_read_start_no_app(
    serve_app: Serve, counting: CountingApp
) -> None:
    """CVE-2023-44487 (rapid reset; RFC 9113 section 10.5): a stream reset by the client in
    the read that opened it never reaches the app."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    burst = b"".join(
        raw.writer.headers(stream_id, request_headers(b"/wait")) + raw.writer.rst(stream_id)
        for stream_id in range(1, 41, 2)
    )
    raw.send(burst)
    raw.send(raw.writer.ping())
    raw.read_until(lambda frames: any(type(f).__name__ == "PingFrame" for f in frames))
    assert counting.starts == 0
    raw.close()
    served_after(server.port)


def test_a_reset_flood_ends_with_enhance_your_calm(serve_app: Serve, counting: CountingApp) -> None:
    """CVE-2023-44487: past the reset budget, GOAWAY ENHANCE_YOUR_CALM and the end."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    for first in range(1, 2 * (RESET_BUDGET + 50), 20):
        raw.send(
            b"".join(
                raw.writer.headers(s, request_headers(b"/wait"), end_stream=False)
                + raw.writer.rst(s)
                for s in range(first, first + 20, 2)
            )
        )
    frames = raw.read_to_close()
    frame = goaway(frames)
    assert frame is not None and frame.error_code == ENHANCE_YOUR_CALM
    assert counting.starts <= RESET_BUDGET + 1
    served_after(server.port)


FLOODS = {
    "PING": FrameWriter.ping(),
    "SETTINGS": FrameWriter.settings(),
    "WINDOW_UPDATE": FrameWriter.window_update(0, 1),
    "PRIORITY": FrameWriter.priority(1),
    "empty DATA": FrameWriter.data(1, b""),
}


@pytest.mark.parametrize("kind", sorted(FLOODS))
def test_control_frame_floods_end_with_enhance_your_calm(
    serve_app: Serve, counting: CountingApp, kind: str
) -> None:
    """RFC 9113 section 10.5 (CVE-2019-9512 PING, -9515 SETTINGS, -9513 PRIORITY, -9518
    empty frames): frames that make no progress, past IDLE_FRAME_BUDGET in a row."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    if kind == "empty DATA":
        raw.send(raw.writer.headers(1, request_headers(b"/", b"POST"), end_stream=False))
    for _ in range(IDLE_FRAME_BUDGET // 500 + 2):
        raw.send(FLOODS[kind] * 500)
        if raw.closed:
            break
    frames = raw.read_to_close()
    frame = goaway(frames)
    assert frame is not None and frame.error_code == ENHANCE_YOUR_CALM
    raw.close()
    served_after(server.port)


def test_continuation_flood_is_cut_off(serve_app: Serve, counting: CountingApp) -> None:
    """RFC 9113 section 6.10 and the 2024 CONTINUATION flood: a header block that never
    ends is a connection error (h2 stops at 64 CONTINUATION frames, PROTOCOL_ERROR); memory
    is bounded by that count times SETTINGS_MAX_FRAME_SIZE."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    block = raw.writer.block(request_headers())
    raw.send(HeadersFrame(1, block, flags={"END_STREAM"}).serialize())
    piece = FrameWriter.continuation(1, b"\x00" * 1000, end_headers=False)
    for _ in range(100):
        raw.send(piece * 10)
        if raw.closed:
            break
    frame = goaway(raw.read_to_close())
    assert frame is not None and frame.error_code in (PROTOCOL_ERROR, ENHANCE_YOUR_CALM)
    assert counting.starts == 0
    served_after(server.port)


def test_hpack_bomb_is_cut_off(serve_app: Serve, counting: CountingApp) -> None:
    """RFC 9113 section 10.5.1, RFC 7541 section 7.3: a small block that decodes to
    megabytes stops at MAX_HEADER_LIST_SIZE (a connection error: HPACK state is lost)."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    raw.send(raw.writer.headers(1, request_headers(extra=[(b"x-bomb", b"b" * 3900)])))
    raw.read_until(lambda frames: any(isinstance(f, DataFrame) for f in frames))
    bomb = raw.writer.block(request_headers()) + bytes([0x80 | 62]) * 4000  # ~16 MB decoded
    raw.send(HeadersFrame(3, bomb, flags={"END_HEADERS", "END_STREAM"}).serialize())
    frame = goaway(raw.read_to_close())
    assert frame is not None and frame.error_code != 0
    assert counting.starts == 1  # Stream 1 only.
    served_after(server.port)


def test_zero_window_stall_is_reset_after_timeout_write(
    serve_app: Serve, counting: CountingApp
) -> None:
    """A client that announces a zero window and never opens it (RFC 9113 section 6.9.2):
    the stream is reset after --timeout-write, the connection's memory is the one chunk."""
    server = serve_app(counting, timeout_write=1)
    raw = RawConnection(server.port, settings={0x4: 0})
    raw.send(raw.writer.headers(1, request_headers(b"/")))
    frames = raw.read_until(lambda frames: 1 in resets(frames), timeout=15)
    assert 1 in resets(frames)
    assert not any(isinstance(f, DataFrame) and f.data for f in frames)
    raw.close()


@pytest.mark.parametrize(
    "headers",
    [
        [(b":method", b"GET"), (b":path", b"/")],  # no :scheme
        [*request_headers(), (b":path", b"/twice")],
        [(b":method", b"GET"), (b"x", b"1"), (b":scheme", b"http"), (b":path", b"/")],
        [*request_headers(), (b":unknown", b"1")],
        [*request_headers(), (b"X-Upper", b"1")],
        [*request_headers(), (b"connection", b"close")],
        [*request_headers(), (b"x", b"a\r\nb")],
        [*request_headers(), (b"x", b"a\x00b")],
    ],
    ids=[
        "missing",
        "duplicated",
        "misplaced",
        "unknown",
        "upper-case",
        "connection",
        "CRLF",
        "NUL",
    ],
)
def test_malformed_requests_are_stream_errors(
    serve_app: Serve, counting: CountingApp, headers: list[tuple[bytes, bytes]]
) -> None:
    """RFC 9113 sections 8.1.1, 8.2 and 8.3: malformed, so a stream error PROTOCOL_ERROR;
    no app runs; the connection serves the next stream."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    raw.send(raw.writer.headers(1, headers))
    raw.send(raw.writer.headers(3, request_headers(b"/")))
    frames = raw.read_until(
        lambda frames: any(isinstance(f, DataFrame) and f.stream_id == 3 for f in frames)
    )
    assert resets(frames) == {1: PROTOCOL_ERROR}
    assert goaway(frames) is None
    assert counting.starts == 1
    raw.close()


@pytest.mark.parametrize("body", [b"short", b"far too long"])
def test_content_length_mismatch_never_completes_the_body(
    serve_app: Serve, counting: CountingApp, body: bytes
) -> None:
    """RFC 9113 section 8.1.1: DATA that disagrees with content-length makes the request
    malformed (stream error PROTOCOL_ERROR); the app gets http.disconnect, never
    more_body False."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    extra = [(b"content-length", b"8")]
    raw.send(raw.writer.headers(1, request_headers(b"/", b"POST", extra=extra), end_stream=False))
    wait_for(lambda: counting.starts == 1)
    raw.send(raw.writer.data(1, body, end_stream=True))
    frames = raw.read_until(lambda frames: 1 in resets(frames))
    assert resets(frames) == {1: PROTOCOL_ERROR}
    wait_for(
        lambda: bool(counting.messages[0]) and counting.messages[0][-1]["type"] == "http.disconnect"
    )
    assert all(m.get("more_body") is not False for m in counting.messages[0])
    raw.close()


@pytest.mark.parametrize("ids", [(2,), (5, 3)], ids=["even", "decreasing"])
def test_invalid_stream_ids_end_the_connection(
    serve_app: Serve, counting: CountingApp, ids: tuple[int, ...]
) -> None:
    """RFC 9113 section 5.1.1: connection error PROTOCOL_ERROR."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    for stream_id in ids:
        raw.send(raw.writer.headers(stream_id, request_headers(b"/")))
    frame = goaway(raw.read_to_close())
    assert frame is not None and frame.error_code == PROTOCOL_ERROR
    served_after(server.port)


def test_oversized_frame_is_a_frame_size_error(serve_app: Serve, counting: CountingApp) -> None:
    """RFC 9113 section 4.2: a frame over SETTINGS_MAX_FRAME_SIZE."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    raw.send(raw.writer.headers(1, request_headers(b"/", b"POST"), end_stream=False))
    raw.send(FrameWriter.data(1, b"x" * 20000))
    frame = goaway(raw.read_to_close())
    assert frame is not None and frame.error_code == FRAME_SIZE_ERROR


@pytest.mark.parametrize("stream_id", [0, 1])
def test_window_overflow(serve_app: Serve, counting: CountingApp, stream_id: int) -> None:
    """RFC 9113 section 6.9.1: a window past 2^31-1 is FLOW_CONTROL_ERROR: a stream error
    for a stream's window, a connection error for the connection's."""
    server = serve_app(counting)
    raw = RawConnection(server.port)
    raw.send(raw.writer.headers(1, request_headers(b"/wait")))
    raw.send(FrameWriter.window_update(stream_id, 2**31 - 1))
    if stream_id:
        frames = raw.read_until(lambda frames: 1 in resets(frames))
        assert resets(frames) == {1: FLOW_CONTROL_ERROR}
        assert goaway(frames) is None
    else:
        frame = goaway(raw.read_to_close())
        assert isinstance(frame, GoAwayFrame) and frame.error_code == FLOW_CONTROL_ERROR
    raw.close()
