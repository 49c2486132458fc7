"""H2Engine (wire/h2_engine.py) against H2Wire (wire/h2.py, on the h2 library) as the oracle.

Both get the same client bytes, cut at the same random points, and the same
sends from the app between the cuts: requests valid and malformed, bodies,
trailers, resets, window updates, settings, pings, priorities, unknown frames,
header blocks in CONTINUATIONs, padding, oversized frames, bad stream ids,
garbage header blocks, and the byte stream cut short. After every step both
must report the same events and write the same frames (header blocks
compared decoded: the HPACK bytes may differ if the encoders do).

Deliberate differences, each for a reason; the comparison allows for them
(`normalized`), or the generator stays clear of them (`documented_divergence`):

1. H2Wire reports RequestEnded twice for a request whose HEADERS ends the
   stream (once for h2's RequestReceived, once for its StreamEnded); the
   engine once. net/h2.py treats the second as a no-op.
2. ConnectionEnded.reason: the same emptiness, other wording.
3. A header block that does not decode is COMPRESSION_ERROR in the engine
   (RFC 9113 section 4.3 says so); h2 says PROTOCOL_ERROR.
4. (none: an RST_STREAM on a closed stream is ignored by both, RFC 9113
   section 5.1, and is generated freely.)
5. A CONTINUATION with no header block open is always a connection error
   PROTOCOL_ERROR in the engine (RFC 9113 section 6.10); so it is in h2,
   but on a closed stream it has pruned from its table, where h2 answers
   with RST_STREAM (a stream it reset) or STREAM_CLOSED (one that ended).
   Generated on open and idle streams only.
6. Frames after a client's GOAWAY in the same read: the engine stops at the
   GOAWAY; h2 goes on, and ends the connection with PROTOCOL_ERROR at the
   next frame. The generator sends GOAWAY last.
7. content-length (RFC 9113 section 8.1.1): the engine also holds a request
   to it when HEADERS ends the stream or trailers end it; h2 checks it
   only against DATA with END_STREAM. The generator declares content-length
   only on requests whose body ends with DATA.
8. A frame over SETTINGS_MAX_FRAME_SIZE: the engine ends the connection as
   soon as the 9-byte header says so (RFC 9113 section 4.2), h2 once the
   whole frame has arrived. Equal when the whole frame is fed.
9. The budgets (rapid reset, idle frames): the engine counts frame by frame
   and stops at the frame that empties a budget; H2Wire counts after h2 has
   processed the whole read. tests/wire/test_h2.py holds both to the
   defences; the sequences here stay far below the budgets.
10. WINDOW_UPDATE frames are compared as the total credit given per stream
    after each step, not frame by frame: H2Wire gives credit for a read's
    padding and discarded data after h2 has handled every frame of it, the
    engine as each frame is handled, so the batches can fall differently
    within one step.
12. An empty cookie crumb: h2 joins the crumbs before it checks the values,
    so `cookie: a` and `cookie: ` make "a; ", a value that ends in a space,
    and the request malformed; the engine checks each field as sent (an
    empty value is valid, RFC 9113 section 8.2.1). Not generated.
11. A sender call on a stream that is closed (or after the connection
    ended) is a no-op in the engine; h2 raises. net/h2.py never makes one,
    and neither does this test.
"""

from __future__ import annotations

from typing import Any

import hpack
import pytest
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
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from h2_frames import PREFACE, FrameWriter
from hurtle.wire.h2 import (
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

PROTOCOL_ERROR = 0x1
COMPRESSION_ERROR = 0x9


def describe(event: H2Event) -> tuple[Any, ...]:
    kind = type(event)
    if kind is RequestReceived:
        assert isinstance(event, RequestReceived)
        headers = [(bytes(n), bytes(v)) for n, v in event.headers]
        return (
            "RequestReceived",
            event.stream_id,
            event.method,
            event.target,
            headers,
            event.scheme,
            event.protocol,
            event.ended,
        )
    if kind is BodyReceived:
        assert isinstance(event, BodyReceived)
        return ("BodyReceived", event.stream_id, bytes(event.data))
    if kind is RequestRejected:
        assert isinstance(event, RequestRejected)
        return ("RequestRejected", event.stream_id, event.status, event.reason)
    if kind is StreamReset:
        assert isinstance(event, StreamReset)
        return ("StreamReset", event.stream_id, event.error_code)
    if kind is ConnectionEnded:
        assert isinstance(event, ConnectionEnded)
        # Difference 2: the reason's wording; 3: the code of a bad header block.
        code = PROTOCOL_ERROR if event.error_code == COMPRESSION_ERROR else event.error_code
        return ("ConnectionEnded", code, event.last_stream_id, bool(event.reason))
    assert kind in (RequestEnded, WindowOpened)
    return (kind.__name__, event.stream_id)


def normalized(events: list[H2Event]) -> list[tuple[Any, ...]]:
    described = [describe(event) for event in events]
    out: list[tuple[Any, ...]] = []
    for item in described:
        if item[0] == "RequestEnded" and item in out:
            continue  # Difference 1.
        out.append(item)
    return out


class Output:
    """The frames one engine wrote, parsed back; header blocks decoded."""

    def __init__(self) -> None:
        self.buffer = FrameBuffer(server=False)
        self.buffer.max_frame_size = 2**24 - 1
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 2**24
        self.decoder.max_allowed_table_size = 2**32  # Whatever the client's SETTINGS allow.
        self.credit: dict[int, int] = {}
        self.pending_block: list[bytes] = []

    def frames(self, data: bytes) -> list[tuple[Any, ...]]:
        self.buffer.add_data(data)
        out: list[tuple[Any, ...]] = []
        for frame in self.buffer:
            out.extend(self.describe(frame))
        return out

    def describe(self, frame: Frame) -> list[tuple[Any, ...]]:
        flags = tuple(sorted(frame.flags))
        if isinstance(frame, WindowUpdateFrame):
            # Difference 10: summed per stream.
            self.credit[frame.stream_id] = (
                self.credit.get(frame.stream_id, 0) + frame.window_increment
            )
            return []
        if isinstance(frame, HeadersFrame):
            headers = [(bytes(n), bytes(v)) for n, v in self.decoder.decode(frame.data, raw=True)]
            return [("HEADERS", frame.stream_id, flags, headers)]
        if isinstance(frame, DataFrame):
            return [("DATA", frame.stream_id, flags, bytes(frame.data))]
        if isinstance(frame, SettingsFrame):
            return [("SETTINGS", flags, sorted(frame.settings.items()))]
        if isinstance(frame, RstStreamFrame):
            return [("RST_STREAM", frame.stream_id, frame.error_code)]
        if isinstance(frame, GoAwayFrame):
            code = PROTOCOL_ERROR if frame.error_code == COMPRESSION_ERROR else frame.error_code
            return [("GOAWAY", frame.last_stream_id, code)]
        if isinstance(frame, PingFrame):
            return [("PING", flags, bytes(frame.opaque_data))]
        return [(type(frame).__name__, frame.stream_id, flags)]


class Pair:
    """The oracle and the engine side by side, fed the same; compared after each step."""

    def __init__(self, h2_settings: H2Settings, connect: bool) -> None:
        self.oracle = H2Wire(h2_settings, enable_connect_protocol=connect)
        self.engine = H2Engine(h2_settings, enable_connect_protocol=connect)
        self.outputs = (Output(), Output())
        self.oracle.start()
        self.engine.start()
        self.compare_output()
        # Streams whose response head went out without END_STREAM.
        self.responding: set[int] = set()
        self.ended = False

    def compare_output(self) -> None:
        oracle_frames = self.outputs[0].frames(self.oracle.outgoing())
        engine_frames = self.outputs[1].frames(self.engine.outgoing())
        assert engine_frames == oracle_frames
        assert self.outputs[1].credit == self.outputs[0].credit

    def feed(self, data: bytes) -> None:
        oracle_events = normalized(self.oracle.feed(data))
        engine_events = normalized(self.engine.feed(data))
        assert engine_events == oracle_events
        if any(event[0] == "ConnectionEnded" for event in oracle_events):
            self.ended = True
        self.compare_output()

    def act(self, name: str, *args: Any) -> None:
        oracle_result = getattr(self.oracle, name)(*args)
        engine_result = getattr(self.engine, name)(*args)
        assert engine_result == oracle_result, name
        self.compare_output()


# -- what the client sends --------------------------------------------------------

NAMES = [b"x-a", b"x-b", b"accept", b"user-agent", b"cookie", b"cookie", b"host"]
BAD_FIELDS = [
    (b"X-Upper", b"1"),
    (b"connection", b"close"),
    (b"transfer-encoding", b"chunked"),
    (b"te", b"gzip"),
    (b"x", b"a\rb"),
    (b"x", b"a\x00b"),
    (b"x", b" lead"),
    (b"x:y", b"1"),
    (b"", b"empty name"),
    (b":bogus", b"1"),
    (b":status", b"200"),
    (b":path", b"/twice"),
]


@st.composite
def request_fields(draw: st.DrawFn, connect: bool) -> tuple[list[tuple[bytes, bytes]], bool]:
    """A request's header list, and whether it is malformed on purpose."""
    kind = draw(st.sampled_from(["GET", "POST", "HEAD", "CONNECT", "websocket", "no-method"]))
    pseudo: list[tuple[bytes, bytes]] = []
    if kind == "CONNECT":
        pseudo = [(b":method", b"CONNECT"), (b":authority", b"example.test:443")]
    elif kind == "websocket":
        pseudo = [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", b"http"),
            (b":path", b"/ws"),
            (b":authority", b"example.test"),
        ]
    else:
        method = b"GET" if kind == "no-method" else kind.encode()
        pseudo = [(b":method", method), (b":scheme", b"http"), (b":path", b"/p?q=1")]
        if draw(st.booleans()):
            pseudo.append((b":authority", b"example.test"))
        if kind == "no-method":
            pseudo = pseudo[1:]
    pseudo = draw(st.permutations(pseudo)) if draw(st.integers(0, 9)) == 0 else pseudo
    regular = draw(
        st.lists(
            st.tuples(st.sampled_from(NAMES), st.sampled_from([b"v", b"a=1", b"", b"x y"])),
            max_size=6,
        )
    )
    regular = [(n, v) for n, v in regular if v or n != b"cookie"]  # Difference 12.
    if not any(name == b":authority" for name, _ in pseudo) and draw(st.booleans()):
        regular.append((b"host", b"example.test"))
    regular = [(n, v) for n, v in regular if n != b"host"] + [
        (n, v) for n, v in regular if n == b"host"
    ][:1]
    bad = draw(st.integers(0, 5)) == 0
    if bad:
        regular.insert(draw(st.integers(0, len(regular))), draw(st.sampled_from(BAD_FIELDS)))
    if draw(st.integers(0, 7)) == 0:
        regular.append((b"te", b"trailers"))
    return pseudo + regular, bad


class Client:
    """The client's side: its HPACK context and what it knows of its streams."""

    def __init__(self) -> None:
        self.writer = FrameWriter()
        self.next_id = 1
        self.opened: list[int] = []
        # Streams the client may still send on, and those with a content-length.
        self.sending: set[int] = set()
        self.declared: set[int] = set()
        self.goaway_sent = False


@st.composite
def client_chunk(draw: st.DrawFn, client: Client, pair: Pair, connect: bool) -> bytes:
    """Some frames, as a client would send them (and some it should not)."""
    writer = client.writer
    engine = pair.engine
    choice = draw(
        st.sampled_from(
            [
                *["request"] * 6,
                *["data"] * 6,
                "window",
                "window",
                "rst",
                "ping",
                "settings",
                "priority",
                "unknown",
                "fatal",
            ]
        )
    )
    if choice == "fatal":
        # Each ends the connection (or may): rarer, so that the others get far.
        choice = draw(st.sampled_from(["bad-id", "garbage-block", "oversized", "goaway"]))
    live = sorted(client.sending)
    if choice == "request":
        fields, bad = draw(request_fields(connect))
        stream_id = client.next_id
        client.next_id += 2
        client.opened.append(stream_id)
        end = draw(st.booleans())
        if not end and not bad and draw(st.booleans()) and fields[0] != (b":method", b"HEAD"):
            fields.append((b"content-length", b"%d" % draw(st.integers(0, 40))))
            client.declared.add(stream_id)
        if not end:
            client.sending.add(stream_id)
        block = writer.block(fields)
        flags = {"END_STREAM"} if end else set()
        pieces = draw(st.integers(1, 3))
        if pieces == 1 or len(block) < 3:
            frame = HeadersFrame(stream_id, block, flags=flags | {"END_HEADERS"})
            if draw(st.integers(0, 4)) == 0:
                frame.flags.add("PADDED")
                frame.pad_length = draw(st.integers(0, 8))
            if draw(st.integers(0, 4)) == 0:
                frame.flags.add("PRIORITY")
                frame.depends_on = draw(st.sampled_from([0, stream_id, 1]))
                frame.stream_weight = 15
            return bytes(frame.serialize())
        cut = draw(st.integers(1, len(block) - 1))
        first = HeadersFrame(stream_id, block[:cut], flags=flags).serialize()
        return bytes(first) + bytes(
            ContinuationFrame(stream_id, block[cut:], flags={"END_HEADERS"}).serialize()
        )
    if choice == "data":
        if not live:
            return FrameWriter.ping()
        stream_id = draw(st.sampled_from(live))
        body = b"d" * draw(st.sampled_from([0, 1, 10, 40, 200, 5000]))
        end = draw(st.booleans())
        if stream_id in client.declared and not end and draw(st.booleans()):
            end = True
        if end:
            client.sending.discard(stream_id)
            if draw(st.integers(0, 3)) == 0 and stream_id not in client.declared:
                # Trailers end it instead (difference 7: only without content-length).
                return FrameWriter.data(stream_id, body) + writer.headers(
                    stream_id, [(b"x-trailer", b"1")], end_stream=True
                )
        data_frame = DataFrame(stream_id, body, flags={"END_STREAM"} if end else set())
        if draw(st.integers(0, 4)) == 0:
            data_frame.flags.add("PADDED")
            data_frame.pad_length = draw(st.integers(0, 20))
        return bytes(data_frame.serialize())
    if choice == "window":
        stream_id = draw(st.sampled_from([0, *client.opened[-3:]]))
        if stream_id and stream_id not in engine._streams:
            stream_id = 0
        increment = draw(st.sampled_from([1, 100, 65535, 2**20, 2**31 - 1]))
        return FrameWriter.window_update(stream_id, increment)
    if choice == "rst":
        # Open or closed, as a client racing the server's responses sends them.
        if not client.opened:
            return FrameWriter.ping(b"rst-none")
        stream_id = draw(st.sampled_from(client.opened))
        client.sending.discard(stream_id)
        return FrameWriter.rst(stream_id, draw(st.sampled_from([0x0, 0x8, 0x2])))
    if choice == "ping":
        ack = draw(st.booleans())
        return bytes(PingFrame(0, b"pingpong", flags={"ACK"} if ack else set()).serialize())
    if choice == "settings":
        if draw(st.booleans()):
            return FrameWriter.settings_ack()
        fatal = draw(st.integers(0, 9)) == 0  # Values out of range: a connection error.
        values = draw(
            st.dictionaries(
                st.sampled_from([0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x8, 0x99]),
                st.sampled_from([0, 1, 100, 16384, 65535, 2**20, *([2, 2**31] * fatal)]),
                max_size=3,
            )
        )
        return FrameWriter.settings(values)
    if choice == "priority":
        stream_id = draw(st.sampled_from([1, 3, client.next_id, *client.opened[-2:]]))
        depends = draw(st.sampled_from([0, 0, 0, stream_id]))
        return bytes(PriorityFrame(stream_id, depends_on=depends, stream_weight=3).serialize())
    if choice == "unknown":
        return FrameWriter.unknown(draw(st.sampled_from([0, 1, 7])))
    if choice == "bad-id":
        kind = draw(
            st.sampled_from(
                ["even", "lower", "data-idle", "data-zero", "window-idle", "continuation"]
            )
        )
        if kind == "continuation":
            # Difference 5: on a stream that is open, or idle.
            open_now = [s for s in client.opened if s in engine._streams]
            stream_id = open_now[-1] if open_now else client.next_id
            return FrameWriter.continuation(stream_id, b"", end_headers=True)
        if kind == "even":
            return writer.headers(client.next_id + 1, [(b":method", b"GET")])
        if kind == "lower" and client.opened:
            # A new request on an id lower than one used: closed, or never opened.
            lower = draw(st.sampled_from(list(client.opened)))
            if lower in engine._streams or engine._closed_streams.get(lower) is not None:
                return FrameWriter.ping(b"skipped!")
            return writer.headers(lower, [(b":method", b"GET")])
        if kind == "data-idle":
            return FrameWriter.data(client.next_id + 10, b"x")
        if kind == "data-zero":
            return b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x"
        return FrameWriter.window_update(client.next_id + 10, 5)
    if choice == "garbage-block":
        stream_id = client.next_id
        client.next_id += 2
        client.opened.append(stream_id)
        return bytes(
            HeadersFrame(stream_id, b"\xff\xff\xff\xff", flags={"END_HEADERS"}).serialize()
        )
    if choice == "oversized":
        stream_id = live[0] if live else client.next_id
        return FrameWriter.data(stream_id, b"z" * 16385)
    client.goaway_sent = True
    return bytes(
        GoAwayFrame(0, last_stream_id=0, error_code=draw(st.sampled_from([0, 2]))).serialize()
    )


@st.composite
def app_step(draw: st.DrawFn, pair: Pair) -> None:
    """What the app side does between reads: only what net/h2.py would (difference 11)."""
    oracle = pair.oracle
    if oracle.closed:
        return
    action = draw(
        st.sampled_from(
            ["head", "head", "data", "data", "trailers", "reset", "consume", "shutdown", "none"]
        )
    )
    open_streams = sorted(s for s in oracle._dispatched)
    if action == "shutdown":
        if draw(st.booleans()):
            pair.act("announce_shutdown")
        else:
            pair.act("finish_shutdown")
        return
    if action == "consume":
        streams = sorted(pair.engine._streams)
        if streams:
            pair.act("body_consumed", draw(st.sampled_from(streams)), draw(st.integers(1, 3000)))
        return
    if not open_streams or action == "none":
        return
    stream_id = draw(st.sampled_from(open_streams))
    if action == "reset":
        pair.act("reset", stream_id, draw(st.sampled_from([0x0, 0x2, 0x8])))
        pair.responding.discard(stream_id)
        return
    if stream_id not in pair.responding:
        if action == "head" or draw(st.booleans()):
            status = draw(st.sampled_from([100, 103, 200, 204, 404]))
            end = status >= 200 and draw(st.booleans())
            fields = [(b"content-type", b"text/plain"), (b"x-r", b"%d" % stream_id)]
            if draw(st.integers(0, 9)) == 0:
                fields.append((b"x-big", b"b" * 20000))  # HEADERS + CONTINUATION.
            pair.act("send_headers", stream_id, status, fields, end)
            if status >= 200 and not end:
                pair.responding.add(stream_id)
        return
    if action == "trailers":
        pair.act("send_trailers", stream_id, [(b"grpc-status", b"0")])
        pair.responding.discard(stream_id)
        return
    size = draw(st.sampled_from([0, 5, 100, 20000, 70000]))
    end = draw(st.booleans())
    sent = oracle.send_data(stream_id, b"r" * size, end)
    assert pair.engine.send_data(stream_id, b"r" * size, end) == sent
    pair.compare_output()
    if end and sent == size:
        pair.responding.discard(stream_id)


@st.composite
def split_points(draw: st.DrawFn, size: int) -> list[int]:
    if size < 2:
        return []
    return sorted(set(draw(st.lists(st.integers(1, size - 1), max_size=3))))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_engine_agrees_with_h2wire(data: st.DataObject) -> None:
    connect = data.draw(st.booleans(), label="enable_connect_protocol")
    h2_settings = H2Settings(
        max_concurrent_streams=data.draw(st.sampled_from([2, 3, 100])),
        initial_window_size=data.draw(st.sampled_from([100, 65535, 2**20])),
        max_headers=data.draw(st.sampled_from([4, 100])),
        max_body=data.draw(st.sampled_from([None, 50, 10_000])),
    )
    pair = Pair(h2_settings, connect)
    client = Client()
    stream = PREFACE + FrameWriter.settings(
        data.draw(
            st.sampled_from([{}, {0x4: 10}, {0x4: 2**20, 0x5: 32768}, {0x1: 0}]),
            label="client settings",
        )
    )
    pair.feed(stream)
    steps = data.draw(st.integers(1, 40), label="steps")
    for _ in range(steps):
        if pair.ended or client.goaway_sent:
            break
        chunk = data.draw(client_chunk(client, pair, connect))
        # Difference 8: an oversized frame is fed whole.
        oversized = int.from_bytes(chunk[:3], "big") > 16384
        cuts = [] if oversized else data.draw(split_points(len(chunk)))
        start = 0
        for cut in [*cuts, len(chunk)]:
            pair.feed(chunk[start:cut])
            start = cut
            if pair.ended:
                break
        if not pair.ended:
            data.draw(app_step(pair))
    event(f"ended: {pair.ended}, requests: {min(len(client.opened), 10)}")
    if not pair.ended and not client.goaway_sent and data.draw(st.booleans(), label="cut"):
        # The stream cut short: a partial frame stays buffered, no event, no output.
        partial = FrameWriter.data(1, b"tail")
        pair.feed(partial[: data.draw(st.integers(1, len(partial) - 1))])
    if not pair.ended:
        pair.act("close", 0)


def test_a_bad_preface_ends_both_the_same() -> None:
    """RFC 9113 section 3.4: no GOAWAY for a peer that does not speak HTTP/2."""
    pair = Pair(H2Settings(), False)
    pair.feed(b"PRI * HTTP/2.0\r\n")
    pair.feed(b"GET / HTTP/1.1\r\n")
    assert pair.ended


@pytest.mark.parametrize("client_settings", [{}, {0x4: 10, 0x1: 0}])
def test_an_upgraded_connection_starts_alike(client_settings: dict[int, int]) -> None:
    """h2c (RFC 7540 section 3.2): the HTTP2-Settings of the upgrade request are the
    client's first SETTINGS, and stream 1 is the upgraded request, half-closed."""
    import h2.config
    import h2.connection

    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    header = client.initiate_upgrade_connection()
    if client_settings:
        client.update_settings(client_settings)
    assert header is not None
    pair = Pair.__new__(Pair)
    pair.oracle = H2Wire(H2Settings())
    pair.engine = H2Engine(H2Settings())
    pair.outputs = (Output(), Output())
    pair.responding = set()
    pair.ended = False
    pair.oracle.start_upgraded(header)
    pair.engine.start_upgraded(header)
    pair.compare_output()
    assert pair.engine.stream_open(1) and pair.oracle.stream_open(1)
    pair.feed(client.data_to_send())
    writer = FrameWriter()
    pair.feed(
        writer.headers(
            3,
            [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"a")],
        )
    )
    pair.act("send_headers", 1, 200, [(b"x", b"y")], False)
    pair.act("send_data", 1, b"hello" * 10, True)
    pair.act("send_headers", 3, 204, [], True)
    pair.act("close", 0)
