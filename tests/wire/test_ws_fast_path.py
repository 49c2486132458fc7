"""The WebSocket fast path (wire/ws.py) against the library framing everything.

Two `WebSocketWire`s get the same client bytes, cut at the same random
points, and the same sends from the app between the cuts: one frames plain
messages itself (the default), the other hands every byte to the `websockets`
library (`fast_path=False`). After every step both must report the same events
and the same bytes to write, including when the stream is malformed, too
large, compressed, fragmented, interleaved with control frames, truncated, or
carries invalid UTF-8.
"""

from __future__ import annotations

import base64
import itertools
import os
import zlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hurtle.wire.ws import MessageReceived, PongReceived, WebSocketClosed, WebSocketWire, WSEvent

MAX_SIZE = 300  # Small, so frames over the limit are easy to generate.


def handshake_headers(deflate: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"host", b"127.0.0.1"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", base64.b64encode(os.urandom(16))),
        (b"sec-websocket-version", b"13"),
    ]
    if deflate:
        headers.append((b"sec-websocket-extensions", b"permessage-deflate"))
    return headers


def open_wire(fast_path: bool, deflate: bool = False, max_size: int = MAX_SIZE) -> WebSocketWire:
    wire = WebSocketWire(
        "GET",
        b"/",
        "1.1",
        handshake_headers(deflate),
        max_size=max_size,
        per_message_deflate=deflate,
        fast_path=fast_path,
    )
    assert wire.rejection() is None
    response = wire.accept(None, [], server_header=False)
    assert response.startswith(b"HTTP/1.1 101")
    assert (b"permessage-deflate" in response) == deflate
    return wire


def client_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    long_length: int = 0,
) -> bytes:
    """A frame as a client sends it (RFC 6455 section 5.2); long_length forces 16/64-bit sizes."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    mask_bit = 0x80 if masked else 0
    length = len(payload)
    if length < 126 and not long_length:
        head = bytes((first, mask_bit | length))
    elif length < 65536 and long_length != 127:
        head = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def compressed(payload: bytes) -> bytes:
    """permessage-deflate (RFC 7692 section 7.2.1): raw deflate without the 00 00 ff ff tail."""
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4]


def described(events: Sequence[WSEvent]) -> list[tuple[str, object, object]]:
    result: list[tuple[str, object, object]] = []
    for event in events:
        if isinstance(event, MessageReceived):
            result.append(("message", event.data, None))
        elif isinstance(event, PongReceived):
            result.append(("pong", event.data, None))
        else:
            assert isinstance(event, WebSocketClosed)
            result.append(("closed", event.code, event.reason))
    return result


def run_both(
    steps: Sequence[tuple[str, object]],
    *,
    deflate: bool = False,
    max_size: int = MAX_SIZE,
    write_each: bool = True,
) -> list[tuple[list[tuple[str, object, object]], tuple[bytes, bool]]]:
    """Replay steps on both wires; return what the fast one did, after checking they agree.

    With write_each, the bytes to write are taken after every step; else only at
    ("write", None) steps and at the end, so output queues up across calls.
    """
    steps = [*steps, ("write", None)]
    fast = open_wire(True, deflate, max_size)
    reference = open_wire(False, deflate, max_size)
    trace = []
    for kind, value in steps:
        outcomes = []
        for wire in (fast, reference):
            if kind == "data":
                assert isinstance(value, bytes)
                events = wire.receive_data(value)
            elif kind == "eof":
                events = wire.receive_eof()
            elif kind == "send":
                events = []
                if wire.is_open:
                    if isinstance(value, str):
                        wire.send_text(value)
                    else:
                        assert isinstance(value, bytes)
                        wire.send_bytes(value)
            elif kind == "ping":
                assert isinstance(value, bytes)
                events = []
                if wire.is_open:
                    wire.send_ping(value)
            elif kind == "close":
                events = []
                wire.send_close(1000, "bye")
            else:
                assert kind == "write"
                events = []
            written = wire.outgoing() if write_each or kind == "write" else (b"", False)
            outcomes.append((described(events), written))
        assert outcomes[0] == outcomes[1], (kind, value)
        trace.append(outcomes[0])
    return trace


def cut(stream: bytes, points: Sequence[int]) -> list[tuple[str, object]]:
    """The stream as reads of the sizes the cut points give."""
    offsets = sorted({p % (len(stream) + 1) for p in points} | {0, len(stream)})
    return [("data", stream[a:b]) for a, b in itertools.pairwise(offsets)]


# -- examples -----------------------------------------------------------------------


def test_plain_messages_in_one_read_become_events_and_frames_out() -> None:
    stream = client_frame(0x1, b"hello") + client_frame(0x2, b"\x00\xff" * 100)
    trace = run_both([("data", stream), ("send", "hi"), ("send", b"\x01" * 200)])
    assert trace[0][0] == [("message", "hello", None), ("message", b"\x00\xff" * 100, None)]
    # Server frames are unmasked (RFC 6455 section 5.1); 200 bytes take a 16-bit length.
    assert trace[1][1] == (b"\x81\x02hi", False)
    assert trace[2][1] == (b"\x82\x7e\x00\xc8" + b"\x01" * 200, False)


def test_a_64_bit_length_frame_is_sent_for_a_large_message() -> None:
    trace = run_both([("send", b"x" * 70000)], max_size=100_000)
    assert trace[0][1][0][:10] == b"\x82\x7f" + (70000).to_bytes(8, "big")


def test_a_frame_split_in_every_possible_place_arrives_once() -> None:
    stream = client_frame(0x1, "héllo wörld".encode() * 10, long_length=126)
    for split in range(1, len(stream)):
        trace = run_both([("data", stream[:split]), ("data", stream[split:])])
        assert [event for events, _ in trace for event in events] == [
            ("message", "héllo wörld" * 10, None)
        ]


def test_a_ping_between_messages_is_answered_in_order_with_the_apps_frames() -> None:
    stream = client_frame(0x1, b"a") + client_frame(0x9, b"ping!") + client_frame(0x1, b"b")
    steps = [("send", "before"), ("data", stream), ("send", "after")]
    trace = run_both(steps, write_each=False)
    assert trace[1][0] == [("message", "a", None), ("message", "b", None)]
    # The pong goes out after the app's earlier frame and before its later one.
    assert trace[-1][1] == (b"\x81\x06before" + b"\x8a\x05ping!" + b"\x81\x05after", False)


def test_fragments_then_a_plain_message() -> None:
    stream = (
        client_frame(0x1, b"frag", fin=False)
        + client_frame(0x9, b"")
        + client_frame(0x0, b"ment")
        + client_frame(0x1, b"whole")
    )
    trace = run_both([("data", stream)])
    assert trace[0][0] == [("message", "fragment", None), ("message", "whole", None)]


def test_a_data_frame_inside_a_fragmented_message_fails_with_1002() -> None:
    stream = client_frame(0x1, b"frag", fin=False) + client_frame(0x1, b"whole")
    trace = run_both([("data", stream)])
    assert trace[0][0][-1][:2] == ("closed", 1002)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(0x1, b"x", masked=False), 1002),  # Section 5.1: clients mask.
        (client_frame(0x2, b"x" * (MAX_SIZE + 1)), 1009),
        (client_frame(0x1, b"\xff\xfe"), 1007),  # Section 8.1: invalid UTF-8.
        (client_frame(0x1, b"x", rsv=4), 1002),  # RSV1 without an extension.
        (client_frame(0x3, b"x"), 1002),  # A reserved opcode.
    ],
)
def test_a_bad_frame_fails_the_connection_and_nothing_after_it_counts(
    frame: bytes, code: int
) -> None:
    stream = client_frame(0x1, b"first") + frame + client_frame(0x1, b"ignored")
    trace = run_both([("data", stream)])
    events, (written, close) = trace[0]
    assert events[0] == ("message", "first", None)
    assert events[-1][:2] == ("closed", code)
    assert len(events) == 2
    assert written.startswith(b"\x88") and close


def test_a_header_announcing_too_much_is_refused_before_the_payload() -> None:
    head = bytes((0x82, 0x80 | 127)) + (2**40).to_bytes(8, "big")
    trace = run_both([("data", client_frame(0x1, b"ok") + head)])
    assert trace[0][0][-1][:2] == ("closed", 1009)


def test_the_close_handshake_and_data_after_it() -> None:
    close = client_frame(0x8, (1000).to_bytes(2, "big") + b"done")
    trace = run_both([("data", close + client_frame(0x1, b"late")), ("send", "x")])
    assert trace[0][0] == [("closed", 1000, "done")]
    assert trace[0][1] == (b"\x88\x06\x03\xe8done", True)


def test_a_server_close_then_the_peers_messages_and_reply() -> None:
    reply = client_frame(0x8, (1000).to_bytes(2, "big"))
    trace = run_both([("close", None), ("data", client_frame(0x1, b"in flight") + reply)])
    assert trace[1][0] == [("message", "in flight", None), ("closed", 1000, "")]


def test_eof_in_the_middle_of_a_header_is_an_abnormal_closure() -> None:
    stream = client_frame(0x1, b"x" * 200, long_length=126)
    trace = run_both([("data", stream[:3]), ("eof", None)])
    assert trace[1][0] == [("closed", 1006, "")]


def test_compressed_and_plain_messages_with_permessage_deflate() -> None:
    stream = (
        client_frame(0x1, compressed(b"squeezed " * 20), rsv=4)
        + client_frame(0x1, b"plain")
        + client_frame(0x2, compressed(b"\x00" * 100), rsv=4)
    )
    trace = run_both([("data", stream), ("send", "out")], deflate=True)
    assert trace[0][0] == [
        ("message", "squeezed " * 20, None),
        ("message", "plain", None),
        ("message", b"\x00" * 100, None),
    ]
    assert trace[1][1][0][0] == 0xC1  # The library compressed it: RSV1 set.


# -- random streams -----------------------------------------------------------------

texts = st.text(max_size=40)
payloads = st.binary(max_size=40)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            ["text", "binary", "text", "binary", "fragmented", "ping", "pong", "close", "bad"]
        )
    )
    long_length = draw(st.sampled_from([0, 0, 0, 126, 127]))
    if kind == "text":
        return client_frame(0x1, draw(texts).encode(), long_length=long_length)
    if kind == "binary":
        size = draw(st.sampled_from([0, 5, 125, 126, 200]))
        return client_frame(0x2, os.urandom(size), long_length=long_length)
    if kind == "fragmented":
        text = draw(texts).encode()
        half = draw(st.integers(0, len(text)))
        return client_frame(0x1, text[:half], fin=False) + client_frame(0x0, text[half:])
    if kind == "ping":
        return client_frame(0x9, draw(payloads))
    if kind == "pong":
        return client_frame(0xA, draw(payloads))
    if kind == "close":
        code = draw(st.sampled_from([1000, 1001, 3000, 1005, 999]))
        return client_frame(0x8, code.to_bytes(2, "big") + draw(texts).encode())
    return draw(
        st.sampled_from(
            [
                client_frame(0x1, b"x", masked=False),
                client_frame(0x2, b"y" * (MAX_SIZE + 1)),
                client_frame(0x0, b"orphan continuation"),
                client_frame(0x1, b"not final", fin=False) + client_frame(0x2, b"interrupting"),
                client_frame(0x1, b"rsv", rsv=2),
                client_frame(0xB, b""),
                client_frame(0x9, b"p" * 126, long_length=126),
            ]
        )
    )


sends = st.one_of(
    st.tuples(st.just("send"), texts),
    st.tuples(st.just("send"), st.binary(max_size=300)),
    st.tuples(st.just("ping"), st.binary(max_size=8)),
    st.tuples(st.just("close"), st.none()),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(frames(), min_size=1, max_size=8),
    st.lists(st.integers(min_value=0), max_size=10),
    st.lists(sends, max_size=4),
    st.data(),
)
def test_random_streams_cut_anywhere_agree_with_the_library(
    stream_frames: list[bytes],
    points: list[int],
    app_steps: list[tuple[str, object]],
    data: st.DataObject,
) -> None:
    if data.draw(st.booleans()):
        # Invalid UTF-8 only last: the library parses a whole read before hurtle's
        # UTF-8 check sees the message, so it may already have answered a ping that
        # followed it; the fast path stops at the failure (RFC 6455 section 7.1.7).
        stream_frames.append(client_frame(0x1, b"\xc3\x28"))
    steps = cut(b"".join(stream_frames), points)
    for step in app_steps:  # The app's sends land between reads.
        steps.insert(data.draw(st.integers(0, len(steps))), step)
    if data.draw(st.booleans()):
        steps.append(("eof", None))
    write_each = data.draw(st.booleans())
    if not write_each:  # Output queued across reads and sends, written now and then.
        for _ in range(data.draw(st.integers(0, 3))):
            steps.insert(data.draw(st.integers(0, len(steps))), ("write", None))
    run_both(steps, write_each=write_each)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=6), st.lists(st.integers(0)))
def test_random_compressed_streams_agree_with_the_library(
    messages: list[bytes], points: list[int]
) -> None:
    stream = b"".join(
        client_frame(0x2, compressed(m), rsv=4) if i % 2 else client_frame(0x2, m)
        for i, m in enumerate(messages)
    )
    run_both(cut(stream, points), deflate=True)
