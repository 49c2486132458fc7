"""Raw HTTP/2 frames for the tests: a client-side frame writer (its own HPACK
encoder, so that it can send what h2 refuses to) and a frame reader.

hyperframe serializes the frames; hpack encodes and decodes header blocks.
Both are what h2 itself stands on; nothing here validates, on purpose.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Protocol

import hpack
from h2.connection import H2Connection
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


class _H2Sender(Protocol):
    """A client of the h2 library that can wait for the server's WINDOW_UPDATEs."""

    h2: H2Connection
    sock: socket.socket
    closed: bool

    def pump(self, timeout: float = 10.0) -> bool: ...

    def flush(self) -> None: ...


def receive_events(client: _H2Sender, timeout: float) -> list[Any] | None:
    """One read from the client's socket, through its h2 connection: the events.

    None when nothing came in `timeout`, or the connection closed (then
    `client.closed` is set).
    """
    client.sock.settimeout(timeout)
    try:
        data = client.sock.recv(1 << 20)
    except TimeoutError:
        return None
    except OSError:
        data = b""
    if not data:
        client.closed = True
        return None
    return list(client.h2.receive_data(data))


def send_in_windows(client: _H2Sender, stream_id: int, data: bytes, deadline: float) -> None:
    """Send `data` as DATA within the server's windows, reading its WINDOW_UPDATEs as needed."""
    view = memoryview(data)
    while view:
        window = min(
            client.h2.local_flow_control_window(stream_id), client.h2.max_outbound_frame_size
        )
        if window <= 0:
            if time.monotonic() > deadline or client.closed:
                raise TimeoutError("no window from the server")
            client.pump(0.2)
            continue
        client.h2.send_data(stream_id, view[:window].tobytes())
        view = view[window:]
        client.flush()


class H2Client:
    """The h2 library in client mode over a plain socket (prior knowledge): it keeps the
    windows, acknowledges the data it reads (unless `auto_ack` is off) and collects
    each stream's response."""

    def __init__(
        self, port: int, settings: dict[int, int] | None = None, auto_ack: bool = True
    ) -> None:
        import h2.config
        import h2.connection

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        self.h2.initiate_connection()
        if settings:
            self.h2.update_settings(settings)
        self.auto_ack = auto_ack
        self.status: dict[int, int] = {}
        self.headers: dict[int, list[tuple[bytes, bytes]]] = {}
        # Each stream's interim (1xx) heads, in order, before its final one.
        self.interim: dict[int, list[list[tuple[bytes, bytes]]]] = {}
        self.bodies: dict[int, bytes] = {}
        self.trailers: dict[int, list[tuple[bytes, bytes]]] = {}
        self.ended: set[int] = set()
        self.reset: dict[int, int] = {}
        self.goaways: list[tuple[int, int]] = []  # (error code, last stream id)
        self.closed = False
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def request(
        self,
        path: bytes = b"/",
        method: bytes = b"GET",
        body: bytes | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
        end: bool = True,
    ) -> int:
        stream_id: int = self.h2.get_next_available_stream_id()
        headers = request_headers(path, method, b"127.0.0.1", extra)
        self.h2.send_headers(stream_id, headers, end_stream=end and body is None)
        self.flush()
        if body is not None:
            self.send_body(stream_id, body, end)
        return stream_id

    def send_body(self, stream_id: int, body: bytes, end: bool = True, timeout: float = 10) -> None:
        """Send within the server's windows, reading its WINDOW_UPDATEs as needed."""
        send_in_windows(self, stream_id, body, time.monotonic() + timeout)
        if end:
            self.h2.end_stream(stream_id)
            self.flush()

    def pump(self, timeout: float = 10.0) -> bool:
        """One read; False when the connection closed or nothing came in `timeout`."""
        import h2.events

        events = receive_events(self, timeout)
        if events is None:
            return False
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                self.headers[event.stream_id] = list(event.headers)
                self.status[event.stream_id] = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.InformationalResponseReceived):
                self.interim.setdefault(event.stream_id, []).append(list(event.headers))
            elif isinstance(event, h2.events.DataReceived):
                self.bodies[event.stream_id] = self.bodies.get(event.stream_id, b"") + event.data
                if self.auto_ack:
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                self.trailers[event.stream_id] = list(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.reset[event.stream_id] = int(event.error_code)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaways.append((int(event.error_code or 0), int(event.last_stream_id or 0)))
        self.flush()
        return True

    def wait(self, done: object, timeout: float = 10.0) -> None:
        """Read until `done()` holds; fail after `timeout` seconds."""
        assert callable(done)
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or (self.closed and not done()):
                raise AssertionError("the server did not do it in time")
            self.pump(min(left, 1.0))

    def wait_response(self, stream_id: int, timeout: float = 10.0) -> tuple[int, bytes]:
        self.wait(lambda: stream_id in self.ended or stream_id in self.reset, timeout)
        assert stream_id in self.ended, f"stream {stream_id} reset: {self.reset[stream_id]}"
        return self.status[stream_id], self.bodies.get(stream_id, b"")

    def close(self) -> None:
        self.sock.close()
