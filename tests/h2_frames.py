"""Raw HTTP/2 frames for the tests: a client-side frame writer (its own HPACK
encoder, so that it can send what h2 refuses to) and a frame reader.

hyperframe serializes the frames; hpack encodes and decodes header blocks.
Both are what h2 itself stands on; nothing here validates, on purpose.
"""

from __future__ import annotations

import socket
import time

import hpack
from h2.frame_buffer import FrameBuffer
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 section 7.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB

SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5


def request_headers(
    path: bytes = b"/",
    method: bytes = b"GET",
    authority: bytes = b"example.test",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", method),
        (b":scheme", b"http"),
        (b":authority", authority),
        (b":path", path),
        *(extra or []),
    ]


class FrameWriter:
    """Client frames as bytes; the header blocks share one HPACK context."""

    def __init__(self) -> None:
        self.encoder = hpack.Encoder()

    def preface(self, settings: dict[int, int] | None = None) -> bytes:
        return PREFACE + SettingsFrame(0, settings=settings or {}).serialize()

    def block(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        return bytes(self.encoder.encode(headers))

    def headers(
        self,
        stream_id: int,
        headers: list[tuple[bytes, bytes]],
        end_stream: bool = True,
        end_headers: bool = True,
    ) -> bytes:
        flags = {"END_STREAM"} if end_stream else set()
        if end_headers:
            flags.add("END_HEADERS")
        return HeadersFrame(stream_id, self.block(headers), flags=flags).serialize()

    @staticmethod
    def continuation(stream_id: int, block: bytes, end_headers: bool) -> bytes:
        flags = {"END_HEADERS"} if end_headers else set()
        return ContinuationFrame(stream_id, block, flags=flags).serialize()

    @staticmethod
    def data(stream_id: int, data: bytes, end_stream: bool = False) -> bytes:
        flags = {"END_STREAM"} if end_stream else set()
        return DataFrame(stream_id, data, flags=flags).serialize()

    @staticmethod
    def rst(stream_id: int, error_code: int = CANCEL) -> bytes:
        return RstStreamFrame(stream_id, error_code=error_code).serialize()

    @staticmethod
    def ping(payload: bytes = b"12345678") -> bytes:
        return PingFrame(0, payload).serialize()

    @staticmethod
    def settings(settings: dict[int, int] | None = None) -> bytes:
        return SettingsFrame(0, settings=settings or {}).serialize()

    @staticmethod
    def settings_ack() -> bytes:
        return SettingsFrame(0, flags={"ACK"}).serialize()

    @staticmethod
    def window_update(stream_id: int, increment: int) -> bytes:
        return WindowUpdateFrame(stream_id, window_increment=increment).serialize()

    @staticmethod
    def priority(stream_id: int) -> bytes:
        return PriorityFrame(stream_id, depends_on=0, stream_weight=15).serialize()

    @staticmethod
    def unknown(stream_id: int = 0) -> bytes:
        # RFC 9113 section 4.1: type 0xFA is unassigned; the payload is ignored.
        payload = b"ignored"
        return (
            len(payload).to_bytes(3, "big")
            + bytes([0xFA, 0])
            + stream_id.to_bytes(4, "big")
            + payload
        )


class FrameReader:
    """Server frames from bytes; header blocks decoded into `.headers` of each HEADERS."""

    def __init__(self) -> None:
        self.buffer = FrameBuffer(server=False)
        self.buffer.max_frame_size = 2**24 - 1
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 2**24
        self.decoded: dict[int, list[tuple[bytes, bytes]]] = {}

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer.add_data(data)
        frames = list(self.buffer)
        for frame in frames:
            if isinstance(frame, HeadersFrame):
                self.decoded[id(frame)] = list(self.decoder.decode(frame.data, raw=True))
        return frames

    def headers_of(self, frame: Frame) -> dict[bytes, bytes]:
        return dict(self.decoded[id(frame)])


def goaway(frames: list[Frame]) -> GoAwayFrame | None:
    """The last GOAWAY among `frames`."""
    found = [frame for frame in frames if isinstance(frame, GoAwayFrame)]
    return found[-1] if found else None


def resets(frames: list[Frame]) -> dict[int, int]:
    """{stream id: error code} of the RST_STREAM frames."""
    return {f.stream_id: f.error_code for f in frames if isinstance(f, RstStreamFrame)}


class RawConnection:
    """A plain socket to hurtle speaking raw frames (prior knowledge, RFC 9113 section 3.3)."""

    def __init__(self, port: int, settings: dict[int, int] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.writer = FrameWriter()
        self.reader = FrameReader()
        self.frames: list[Frame] = []
        self.closed = False
        self.send(self.writer.preface(settings))

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True

    def read_some(self, timeout: float = 10.0) -> list[Frame]:
        """Frames that arrive within `timeout` seconds (at least one read)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            return []
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return []
        frames = self.reader.feed(data)
        self.frames.extend(frames)
        return frames

    def read_until(self, done: object, timeout: float = 10.0) -> list[Frame]:
        """Read until `done(frames so far)` holds, the peer closes or `timeout` passes."""
        assert callable(done)
        deadline = time.monotonic() + timeout
        while not done(self.frames) and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.read_some(left)
        return self.frames

    def read_to_close(self, timeout: float = 10.0) -> list[Frame]:
        return self.read_until(lambda frames: False, timeout)

    def close(self) -> None:
        self.sock.close()
