"""H2Wire and H2Engine, bytes in and events out (RFC 9113): real client bytes, from h2 in
client mode or, for what h2 refuses to send, from hyperframe and hpack (tests/h2_frames.py).

Every test runs against both engines: H2Wire (on the h2 library) and hurtle's own
H2Engine (wire/h2_engine.py), which must keep every defence H2Wire has."""

from __future__ import annotations

import sys
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from h2_frames import (
    COMPRESSION_ERROR,
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    FrameReader,
    FrameWriter,
    goaway,
    request_headers,
    resets,
)
from hurtle.wire.h2 import (
    IDLE_FRAME_BUDGET,
    RESET_BUDGET,
    BodyReceived,
    ConnectionEnded,
    H2Event,
    H2Settings,
    H2Wire,
    RequestEnded,
    RequestReceived,
    RequestRejected,
    StreamReset,
    WindowOpened,
)
from hurtle.wire.h2_engine import H2Engine

Wire: type[H2Wire] | type[H2Engine] = H2Wire


@pytest.fixture(autouse=True, params=[H2Wire, H2Engine], ids=["h2", "engine"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test once with H2Wire and once with H2Engine (as `Wire`)."""
    monkeypatch.setattr(sys.modules[__name__], "Wire", request.param)


class Peer:
    """An H2Wire and a raw client talking to it; `frames` is what the server sent."""

    def __init__(self, settings: H2Settings | None = None, client: dict[int, int] | None = None):
        self.wire = Wire(settings or H2Settings())
        self.writer = FrameWriter()
        self.reader = FrameReader()
        self.frames: list[Frame] = []
        self.wire.start()
        self.feed(self.writer.preface(client))
        self.feed(self.writer.settings_ack())

    def feed(self, data: bytes) -> list[H2Event]:
        events = self.wire.feed(data)
        self.frames.extend(self.reader.feed(self.wire.outgoing()))
        return events

    def request(self, stream_id: int, end_stream: bool = True, **kw: Any) -> list[H2Event]:
        return self.feed(self.writer.headers(stream_id, request_headers(**kw), end_stream))


def of_type(events: list[H2Event], kind: type[H2Event]) -> list[Any]:
    return [event for event in events if type(event) is kind]


def test_server_preface_announces_the_settings() -> None:
    """RFC 9113 sections 3.4 and 6.5.2: the server's preface is a SETTINGS frame."""
    settings = H2Settings(max_concurrent_streams=7, initial_window_size=1000, max_frame_size=20000)
    peer = Peer(settings)
    first = peer.frames[0]
    assert isinstance(first, SettingsFrame) and "ACK" not in first.flags
    assert first.settings[0x3] == 7  # MAX_CONCURRENT_STREAMS
    assert first.settings[0x4] == 1000  # INITIAL_WINDOW_SIZE
    assert first.settings[0x5] == 20000  # MAX_FRAME_SIZE
    assert 0x6 in first.settings  # MAX_HEADER_LIST_SIZE
    assert any(isinstance(f, SettingsFrame) and "ACK" in f.flags for f in peer.frames)


def test_authority_becomes_host_and_cookies_are_joined() -> None:
    """RFC 9113 section 8.3.1 (:authority stands for Host) and 8.2.3 (cookie crumbs are
    joined with "; " before an HTTP/1.1-style consumer sees them)."""
    peer = Peer()
    extra = [
        (b"cookie", b"a=1"),
        (b"host", b"example.test:8443"),
        (b"cookie", b"b=2"),
        (b"x-y", b"z"),
    ]
    events = peer.request(1, authority=b"example.test:8443", extra=extra)
    (request,) = of_type(events, RequestReceived)
    assert request.method == "GET" and request.target == b"/" and request.scheme == "http"
    assert request.headers[0] == (b"host", b"example.test:8443")
    assert [v for n, v in request.headers if n == b"host"] == [b"example.test:8443"]
    assert (b"cookie", b"a=1; b=2") in request.headers
    assert (b"x-y", b"z") in request.headers
    assert of_type(events, RequestEnded)


def test_body_is_credit_returned_only_when_consumed() -> None:
    """RFC 9113 section 6.9: WINDOW_UPDATE for a stream only once hurtle's side took the data."""
    peer = Peer(H2Settings(initial_window_size=1000))
    peer.request(1, end_stream=False, method=b"POST")
    before = len(peer.frames)
    events = peer.feed(peer.writer.data(1, b"x" * 1000))
    assert [e.data for e in of_type(events, BodyReceived)] == [b"x" * 1000]
    stream_updates = [
        f
        for f in peer.frames[before:]
        if f.stream_id == 1 and type(f).__name__ == "WindowUpdateFrame"
    ]
    assert stream_updates == []
    # The window is spent: more DATA is a flow-control error on the stream.
    peer.wire.body_consumed(1, 1000)
    peer.frames.extend(peer.reader.feed(peer.wire.outgoing()))
    updates = [
        f.window_increment
        for f in peer.frames[before:]
        if f.stream_id == 1 and isinstance(f, WindowUpdateFrame)
    ]
    assert sum(updates) == 1000
    events = peer.feed(peer.writer.data(1, b"y" * 10, end_stream=True))
    assert of_type(events, RequestEnded)


def test_too_many_header_fields_get_431() -> None:
    """hurtle's --limit-request-headers keeps its HTTP/1.1 meaning (RFC 6585 section 5)."""
    peer = Peer(H2Settings(max_headers=5))
    extra = [(b"x-%d" % i, b"v") for i in range(10)]
    events = peer.request(1, extra=extra)
    (rejected,) = of_type(events, RequestRejected)
    assert rejected.status == 431
    assert not of_type(events, RequestReceived)


def test_a_body_over_the_limit_is_rejected_with_413() -> None:
    """--limit-request-body: RFC 9110 section 15.5.14."""
    peer = Peer(H2Settings(max_body=100))
    peer.request(1, end_stream=False, method=b"POST")
    events = peer.feed(peer.writer.data(1, b"x" * 60))
    assert of_type(events, BodyReceived)
    events = peer.feed(peer.writer.data(1, b"x" * 60))
    (rejected,) = of_type(events, RequestRejected)
    assert rejected.status == 413
    assert not of_type(events, BodyReceived)


MALFORMED = {
    "no :method": [(b":scheme", b"http"), (b":path", b"/"), (b":authority", b"a")],
    "no :path": [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a")],
    "empty :path": [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"")],
    "two :path": [*request_headers(), (b":path", b"/again")],
    "pseudo after a field": [
        (b":method", b"GET"),
        (b"x", b"y"),
        (b":path", b"/"),
        (b":scheme", b"http"),
    ],
    "unknown pseudo": [*request_headers(), (b":bogus", b"1")],
    "response pseudo": [*request_headers(), (b":status", b"200")],
    "upper-case name": [*request_headers(), (b"X-Upper", b"1")],
    "connection": [*request_headers(), (b"connection", b"keep-alive")],
    "keep-alive": [*request_headers(), (b"keep-alive", b"5")],
    "transfer-encoding": [*request_headers(), (b"transfer-encoding", b"chunked")],
    "upgrade": [*request_headers(), (b"upgrade", b"websocket")],
    "te other than trailers": [*request_headers(), (b"te", b"gzip")],
    "CR in value": [*request_headers(), (b"x", b"a\rb")],
    "LF in value": [*request_headers(), (b"x", b"a\nb")],
    "NUL in value": [*request_headers(), (b"x", b"a\x00b")],
    "bad content-length": [*request_headers(), (b"content-length", b"ten")],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_request_is_a_stream_error(case: str) -> None:
    """RFC 9113 sections 8.1.1, 8.2.1, 8.2.2 and 8.3: a malformed request is a stream error
    of type PROTOCOL_ERROR; no app sees it and the connection goes on."""
    peer = Peer()
    events = peer.feed(peer.writer.headers(1, MALFORMED[case]))
    assert not of_type(events, RequestReceived)
    assert not of_type(events, ConnectionEnded)
    assert resets(peer.frames) == {1: PROTOCOL_ERROR}
    assert goaway(peer.frames) is None
    # The HPACK context is intact: the next request decodes and is served.
    events = peer.request(3)
    assert [e.stream_id for e in of_type(events, RequestReceived)] == [3]


def test_te_trailers_is_allowed() -> None:
    """RFC 9113 section 8.2.2: TE may be sent, with the value "trailers" only."""
    peer = Peer()
    events = peer.request(1, extra=[(b"te", b"trailers")])
    assert of_type(events, RequestReceived)


@pytest.mark.parametrize(("declared", "sent"), [(5, b"123456"), (10, b"12345")])
def test_a_body_that_disagrees_with_content_length_never_ends(declared: int, sent: bytes) -> None:
    """RFC 9113 section 8.1.1: DATA that does not add up to content-length makes the request
    malformed, a stream error PROTOCOL_ERROR; the request never looks complete."""
    peer = Peer()
    extra = [(b"content-length", b"%d" % declared)]
    peer.request(1, end_stream=False, method=b"POST", extra=extra)
    events = peer.feed(peer.writer.data(1, sent, end_stream=True))
    assert not of_type(events, RequestEnded)
    assert [e.stream_id for e in of_type(events, StreamReset)] == [1]
    assert resets(peer.frames) == {1: PROTOCOL_ERROR}
    assert goaway(peer.frames) is None
    # The flow-control window was given back: the connection is not starved.
    events = peer.request(3)
    assert of_type(events, RequestReceived)


@pytest.mark.parametrize(("first", "second"), [(2, None), (5, 3)])
def test_invalid_stream_ids_are_a_connection_error(first: int, second: int | None) -> None:
    """RFC 9113 section 5.1.1: a client stream id is odd and each new one larger than all
    before; anything else is a connection error PROTOCOL_ERROR."""
    peer = Peer()
    events = peer.request(first)
    if second is not None:
        assert of_type(events, RequestReceived)
        events = peer.request(second)
    (ended,) = of_type(events, ConnectionEnded)
    assert ended.error_code == PROTOCOL_ERROR
    frame = goaway(peer.frames)
    assert frame is not None and frame.error_code == PROTOCOL_ERROR


def test_streams_past_max_concurrent_streams_are_refused() -> None:
    """RFC 9113 section 5.1.2: a stream past SETTINGS_MAX_CONCURRENT_STREAMS is a stream
    error (REFUSED_STREAM, so the client may retry it); the others go on."""
    peer = Peer(H2Settings(max_concurrent_streams=2))
    events = peer.request(1) + peer.request(3) + peer.request(5, extra=[(b"x-new", b"1")])
    assert [e.stream_id for e in of_type(events, RequestReceived)] == [1, 3]
    assert resets(peer.frames) == {5: REFUSED_STREAM}
    assert goaway(peer.frames) is None
    peer.wire.send_headers(1, 200, [], True)
    # The refused block was decoded: its new HPACK entry is known for the next one.
    events = peer.request(7, extra=[(b"x-new", b"1")])
    (request,) = of_type(events, RequestReceived)
    assert (b"x-new", b"1") in request.headers


def test_rapid_reset_ends_with_enhance_your_calm() -> None:
    """RFC 9113 section 10.5 and CVE-2023-44487: streams opened and reset at once spend a
    budget; past it the connection ends with GOAWAY ENHANCE_YOUR_CALM."""
    peer = Peer()
    stream_id = 1
    ended: list[ConnectionEnded] = []
    for _ in range(RESET_BUDGET + 1):
        events = peer.request(stream_id, end_stream=False) + peer.feed(peer.writer.rst(stream_id))
        ended += of_type(events, ConnectionEnded)
        stream_id += 2
    assert [e.error_code for e in ended] == [ENHANCE_YOUR_CALM]
    frame = goaway(peer.frames)
    assert frame is not None and frame.error_code == ENHANCE_YOUR_CALM


def test_finished_responses_refill_the_reset_budget() -> None:
    """A client that resets now and then, but mostly gets its answers, is not cut off."""
    peer = Peer()
    stream_id = 1
    for _ in range(RESET_BUDGET * 2):
        peer.request(stream_id)
        peer.wire.send_headers(stream_id, 204, [], True)
        events = peer.request(stream_id + 2, end_stream=False) + peer.feed(
            peer.writer.rst(stream_id + 2)
        )
        assert not of_type(events, ConnectionEnded)
        stream_id += 4


FLOODS = {
    "PING": FrameWriter.ping(),
    "SETTINGS": FrameWriter.settings(),
    "WINDOW_UPDATE": FrameWriter.window_update(0, 1),
    "PRIORITY": FrameWriter.priority(1),
    "unknown type": FrameWriter.unknown(),
}


@pytest.mark.parametrize("kind", [*sorted(FLOODS), "empty DATA"])
def test_a_flood_of_frames_without_a_request_ends_the_connection(kind: str) -> None:
    """RFC 9113 section 10.5: frames that cost work and make no progress (CVE-2019-9512,
    -9515, -9518 and kin) end the connection with ENHANCE_YOUR_CALM."""
    peer = Peer()
    if kind == "empty DATA":
        peer.request(1, end_stream=False, method=b"POST")
        frame = FrameWriter.data(1, b"")
    else:
        frame = FLOODS[kind]
    ended: list[ConnectionEnded] = []
    for _ in range(IDLE_FRAME_BUDGET // 100 + 2):
        ended += of_type(peer.feed(frame * 100), ConnectionEnded)
    assert [e.error_code for e in ended] == [ENHANCE_YOUR_CALM]
    goaway_frame = goaway(peer.frames)
    assert goaway_frame is not None and goaway_frame.error_code == ENHANCE_YOUR_CALM
    assert peer.feed(frame) == []  # Closed: nothing more is looked at.


def test_data_on_a_closed_stream_counts_towards_the_flood_budget() -> None:
    """DATA on a reset stream gives no event (h2 answers RST_STREAM): it is counted too."""
    peer = Peer()
    peer.request(1, end_stream=False, method=b"POST")
    peer.feed(peer.writer.rst(1))
    ended: list[ConnectionEnded] = []
    for _ in range(IDLE_FRAME_BUDGET // 100 + 2):
        ended += of_type(peer.feed(FrameWriter.data(1, b"x") * 100), ConnectionEnded)
    assert [e.error_code for e in ended] == [ENHANCE_YOUR_CALM]


def test_continuation_flood_is_a_connection_error() -> None:
    """CONTINUATION frames without END_HEADERS (RFC 9113 section 6.10, the 2024
    "CONTINUATION flood"): h2 stops at 64 frames; hurtle sees a connection error."""
    peer = Peer()
    writer = peer.writer
    start = HeadersFrame(1, writer.block(request_headers()), flags={"END_STREAM"}).serialize()
    ended: list[ConnectionEnded] = of_type(peer.feed(start), ConnectionEnded)
    piece = writer.continuation(1, b"", end_headers=False)
    for _ in range(200):
        ended += of_type(peer.feed(piece), ConnectionEnded)
        if ended:
            break
    assert len(ended) == 1
    assert ended[0].error_code in (PROTOCOL_ERROR, ENHANCE_YOUR_CALM)
    assert peer.wire.closed


def test_an_hpack_bomb_stops_at_max_header_list_size() -> None:
    """RFC 9113 section 10.5.1 and RFC 7541 section 7.3: one large entry in the dynamic
    table, referenced over and over, decodes to far more than the limit: the decoder stops
    there (a connection error, since the HPACK context is then lost)."""
    peer = Peer(H2Settings(max_header_list_size=16384))
    writer = peer.writer
    # Entry 62 (the first dynamic one) is nearly 4 KiB; each reference is one byte.
    first = writer.headers(1, request_headers(extra=[(b"x-bomb", b"b" * 3900)]))
    assert of_type(peer.feed(first), RequestReceived)
    block = writer.block(request_headers()) + bytes([0x80 | 62]) * 1000  # 4 MB decoded
    events = peer.feed(HeadersFrame(3, block, flags={"END_HEADERS", "END_STREAM"}).serialize())
    (ended,) = of_type(events, ConnectionEnded)
    assert ended.error_code in (ENHANCE_YOUR_CALM, COMPRESSION_ERROR, PROTOCOL_ERROR)
    assert not of_type(events, RequestReceived)


def test_a_frame_over_max_frame_size_is_a_frame_size_error() -> None:
    """RFC 9113 section 4.2: a frame larger than SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR."""
    peer = Peer(H2Settings(max_frame_size=16384))
    peer.request(1, end_stream=False, method=b"POST")
    events = peer.feed(FrameWriter.data(1, b"x" * 16385))
    (ended,) = of_type(events, ConnectionEnded)
    assert ended.error_code == FRAME_SIZE_ERROR


def test_window_overflow_on_a_stream_is_a_stream_error() -> None:
    """RFC 9113 section 6.9.1: WINDOW_UPDATE taking a stream window past 2^31-1 is a stream
    error FLOW_CONTROL_ERROR; the app behind the stream hears that the stream ended."""
    peer = Peer()
    peer.request(1, end_stream=False)
    events = peer.feed(FrameWriter.window_update(1, 2**31 - 1))
    assert [e.stream_id for e in of_type(events, StreamReset)] == [1]
    assert resets(peer.frames) == {1: FLOW_CONTROL_ERROR}
    assert goaway(peer.frames) is None


def test_window_overflow_on_the_connection_is_a_connection_error() -> None:
    """RFC 9113 section 6.9.1: for the connection window it is a connection error."""
    peer = Peer()
    events = peer.feed(FrameWriter.window_update(0, 2**31 - 1))
    (ended,) = of_type(events, ConnectionEnded)
    assert ended.error_code == FLOW_CONTROL_ERROR


def test_responses_stay_within_the_peers_window() -> None:
    """RFC 9113 section 6.9.1: a sender never sends more DATA than the window allows; the
    rest goes when WINDOW_UPDATE opens it."""
    peer = Peer(client={0x4: 10})  # The client's SETTINGS_INITIAL_WINDOW_SIZE: 10 bytes.
    peer.request(1)
    peer.wire.send_headers(1, 200, [], False)
    assert peer.wire.send_data(1, b"x" * 25, True) == 10
    events = peer.feed(FrameWriter.window_update(1, 100))
    assert [e.stream_id for e in of_type(events, WindowOpened)] == [1]
    assert peer.wire.send_data(1, b"x" * 15, True) == 15
    peer.feed(b"")
    data = [f for f in peer.frames if isinstance(f, DataFrame)]
    assert sum(len(f.data) for f in data) == 25
    assert "END_STREAM" in data[-1].flags


def test_large_bodies_are_cut_to_the_peers_max_frame_size() -> None:
    """RFC 9113 section 4.2: no frame over the peer's SETTINGS_MAX_FRAME_SIZE (16384 at first)."""
    peer = Peer(client={0x4: 2**20})
    peer.feed(FrameWriter.window_update(0, 2**20))
    peer.request(1)
    peer.wire.send_headers(1, 200, [], False)
    assert peer.wire.send_data(1, b"x" * 100_000, True) == 100_000
    peer.feed(b"")
    sizes = [len(f.data) for f in peer.frames if isinstance(f, DataFrame)]
    assert sum(sizes) == 100_000 and max(sizes) == 16384


def test_a_large_body_goes_out_from_the_apps_own_buffer() -> None:
    """The pieces for writelines hold the frames in order; the engine's DATA payloads of
    4 KiB and more are views of the app's bytes, not copies, and a small response is
    one piece (one write)."""
    peer = Peer(client={0x4: 2**20})
    peer.feed(FrameWriter.window_update(0, 2**20))
    peer.request(1)
    peer.wire.send_headers(1, 200, [], False)
    body = bytes(range(256)) * 400  # 102,400 bytes: six full frames and one of 4,096.
    assert peer.wire.send_data(1, body, True) == len(body)
    pieces = peer.wire.outgoing_pieces()
    frames = peer.reader.feed(b"".join(pieces))
    assert b"".join(f.data for f in frames if isinstance(f, DataFrame)) == body
    assert "END_STREAM" in frames[-1].flags
    if Wire is H2Engine:
        payloads = [piece for piece in pieces if len(piece) >= 4096]
        assert [len(piece) for piece in payloads] == [16384] * 6 + [4096]
        assert all(isinstance(piece, memoryview) and piece.obj is body for piece in payloads)
    peer.request(3)
    peer.wire.send_headers(3, 200, [], False)
    assert peer.wire.send_data(3, b"small", True) == 5
    (piece,) = peer.wire.outgoing_pieces()
    frames = peer.reader.feed(bytes(piece))
    assert [type(f).__name__ for f in frames] == ["HeadersFrame", "DataFrame"]
    assert peer.wire.outgoing_pieces() == []


def test_graceful_shutdown_sends_two_goaways_and_refuses_later_streams() -> None:
    """RFC 9113 section 6.8: first GOAWAY with 2^31-1, then one with the last stream
    processed; streams above it are refused (REFUSED_STREAM) and the ones below finish."""
    peer = Peer()
    peer.request(1)
    peer.wire.announce_shutdown()
    peer.feed(b"")
    first = goaway(peer.frames)
    assert first is not None and first.last_stream_id == 2**31 - 1 and first.error_code == 0
    events = peer.request(3)  # Sent before the client saw the first GOAWAY: still served.
    assert of_type(events, RequestReceived)
    peer.wire.finish_shutdown()
    peer.feed(b"")
    final = goaway(peer.frames)
    assert final is not None and final.last_stream_id == 3 and final.error_code == 0
    events = peer.request(5)
    assert not of_type(events, RequestReceived)
    assert resets(peer.frames) == {5: REFUSED_STREAM}
    # Stream 1 and 3 still get their responses.
    peer.wire.send_headers(1, 204, [], True)
    peer.wire.send_headers(3, 200, [], False)
    assert peer.wire.send_data(3, b"done", True) == 4
    peer.feed(b"")
    assert {f.stream_id for f in peer.frames if isinstance(f, HeadersFrame)} == {1, 3}


def test_the_upgraded_request_is_stream_1() -> None:
    """RFC 7540 section 3.2 (h2c): after 101 the server's preface, and the response to the
    request that asked for the upgrade goes on stream 1."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    settings_header = client.initiate_upgrade_connection()
    assert settings_header is not None
    wire = Wire(H2Settings())
    wire.start_upgraded(settings_header)
    client.receive_data(wire.outgoing())
    wire.feed(client.data_to_send())
    wire.send_headers(1, 200, [(b"x", b"y")], False)
    wire.send_data(1, b"hello", True)
    events = client.receive_data(wire.outgoing())
    response = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert response and (b":status", b"200") in response[0].headers
    assert any(isinstance(e, h2.events.StreamEnded) and e.stream_id == 1 for e in events)


def test_a_client_goaway_ends_the_connection() -> None:
    """RFC 9113 section 6.8: the peer's GOAWAY."""
    peer = Peer()
    events = peer.feed(GoAwayFrame(0, last_stream_id=0, error_code=0).serialize())
    (ended,) = of_type(events, ConnectionEnded)
    assert ended.error_code == 0 and ended.reason == ""


# -- RFC 8441: extended CONNECT, for WebSockets over HTTP/2 ------------------------

EXTENDED_CONNECT = [
    (b":method", b"CONNECT"),
    (b":protocol", b"websocket"),
    (b":scheme", b"http"),
    (b":path", b"/chat?room=1"),
    (b":authority", b"example.test"),
    (b"sec-websocket-version", b"13"),
]


def connect_peer(enabled: bool, settings: H2Settings | None = None) -> Peer:
    peer = Peer.__new__(Peer)
    peer.wire = Wire(settings or H2Settings(), enable_connect_protocol=enabled)
    peer.writer = FrameWriter()
    peer.reader = FrameReader()
    peer.frames = []
    peer.wire.start()
    peer.feed(peer.writer.preface())
    peer.feed(peer.writer.settings_ack())
    return peer


def test_enable_connect_protocol_is_announced_only_when_asked() -> None:
    """RFC 8441 section 3: SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1."""
    on = connect_peer(True).frames[0]
    off = connect_peer(False).frames[0]
    assert isinstance(on, SettingsFrame) and on.settings.get(0x8) == 1
    assert isinstance(off, SettingsFrame) and off.settings.get(0x8, 0) == 0


def test_an_extended_connect_is_a_request_with_its_protocol() -> None:
    """RFC 8441 section 4: :protocol, with :scheme and :path, on a CONNECT."""
    peer = connect_peer(True)
    events = peer.feed(peer.writer.headers(1, EXTENDED_CONNECT, end_stream=False))
    (request,) = of_type(events, RequestReceived)
    assert request.method == "CONNECT" and request.protocol == "websocket"
    assert request.target == b"/chat?room=1" and request.scheme == "http"
    assert request.headers[0] == (b"host", b"example.test")
    assert not request.ended and not resets(peer.frames)


def test_an_extended_connect_not_offered_is_malformed() -> None:
    """RFC 8441 section 4: without the setting, :protocol makes the request malformed,
    a stream error (RFC 9113 section 8.1.1); the connection goes on."""
    peer = connect_peer(False)
    events = peer.feed(peer.writer.headers(1, EXTENDED_CONNECT, end_stream=False))
    assert not of_type(events, RequestReceived)
    assert resets(peer.frames) == {1: PROTOCOL_ERROR}
    events = peer.request(3)
    assert of_type(events, RequestReceived)


def test_a_tunnel_is_not_held_to_the_body_limit() -> None:
    """A WebSocket's DATA is frames, bounded by --ws-max-size per message, not a body."""
    peer = connect_peer(True, H2Settings(max_body=100))
    peer.feed(peer.writer.headers(1, EXTENDED_CONNECT, end_stream=False))
    events = peer.feed(peer.writer.data(1, b"x" * 80))
    events += peer.feed(peer.writer.data(1, b"x" * 80))
    assert sum(len(e.data) for e in of_type(events, BodyReceived)) == 160
    assert not of_type(events, RequestRejected)


def test_the_engines_memory_of_checked_values_is_bounded_and_keeps_no_bad_value() -> None:
    """wire/h2_engine.py keeps the header values it checked (they repeat from the
    client's HPACK table): never one that failed, never a long one, and never
    more than its bound, however many distinct values clients send."""
    from hurtle.wire import h2_engine

    kept = h2_engine._VALID_VALUES
    for bad in (b"a\rb", b"a\nb", b"a\x00b", b" lead", b"trail\t"):
        assert not h2_engine._valid_value(bad)
        assert not h2_engine._valid_value(bad)  # Refused again: nothing was kept.
        assert bad not in kept
    long_value = b"x" * (h2_engine._VALID_VALUE_LONGEST_KEPT + 1)
    assert h2_engine._valid_value(long_value)
    assert long_value not in kept
    for n in range(h2_engine._VALID_VALUES_KEPT + 100):
        assert h2_engine._valid_value(b"value-%d" % n)
        assert len(kept) <= h2_engine._VALID_VALUES_KEPT
    assert b"value-%d" % (h2_engine._VALID_VALUES_KEPT + 99) in kept
