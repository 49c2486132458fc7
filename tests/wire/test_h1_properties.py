"""Property tests of the HTTP/1.1 parser (hypothesis).

1. Framing does not depend on how the bytes are cut: any split of a valid
   stream of pipelined requests gives the same requests (RFC 9112 section 9.3.2
   leaves read boundaries to the transport).
2. No input raises past `feed`: random bytes, and valid requests with random
   mutations, end in events or a RequestRejected, and after a rejection the
   parser returns nothing more (no smuggling, RFC 9112 section 11.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from hurtle.wire.h1 import (
    BodyReceived,
    Event,
    H1Limits,
    H1Parser,
    RequestEnded,
    RequestReceived,
    RequestRejected,
)

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 ;=/.,-", max_size=40).map(
    str.strip
)
PATH = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-._~%2A", max_size=30).map(
    lambda p: "/" + p.replace("%", "")
)


@dataclass
class Request:
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    ended: bool = False


@dataclass
class Outcome:
    requests: list[Request] = field(default_factory=list)
    rejected: int | None = None


def summarize(events: list[Event]) -> Outcome:
    outcome = Outcome()
    for event in events:
        if isinstance(event, RequestReceived):
            outcome.requests.append(Request(event.method, event.target, list(event.headers)))
        elif isinstance(event, BodyReceived):
            outcome.requests[-1].body += event.data
        elif isinstance(event, RequestEnded):
            outcome.requests[-1].ended = True
        elif isinstance(event, RequestRejected):
            outcome.rejected = event.status
    return outcome


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    path = draw(PATH)
    headers = draw(st.lists(st.tuples(TOKEN, VALUE), max_size=6))
    headers = [
        (n, v) for n, v in headers if n not in ("host", "content-length", "transfer-encoding")
    ]
    body = draw(st.binary(max_size=300))
    framing = draw(st.sampled_from(["length", "chunked"])) if body or method != "GET" else "none"
    lines = [f"{method} {path} HTTP/1.1", "Host: example"]
    lines += [f"{name}: {value}" for name, value in headers]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        encoded = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        sizes = draw(st.lists(st.integers(1, 64), max_size=10))
        pieces, rest = [], body
        for size in sizes:
            if not rest:
                break
            pieces.append(rest[:size])
            rest = rest[size:]
        if rest:
            pieces.append(rest)
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        encoded = b""
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + encoded


def feed_in_pieces(stream: bytes, cuts: list[int]) -> list[Event]:
    parser = H1Parser(H1Limits())
    events: list[Event] = []
    start = 0
    for cut in sorted(set(cuts)):
        if 0 < cut < len(stream) and cut > start:
            events += parser.feed(stream[start:cut])
            start = cut
    events += parser.feed(stream[start:])
    return events


@settings(max_examples=300, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=4), st.data())
def test_any_split_gives_the_same_requests(pipeline: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(pipeline)
    whole = summarize(H1Parser().feed(stream))
    assert whole.rejected is None
    assert len(whole.requests) == len(pipeline) and all(r.ended for r in whole.requests)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    assert summarize(feed_in_pieces(stream, cuts)) == whole


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_random_bytes_never_raise(pieces: list[bytes]) -> None:
    parser = H1Parser(H1Limits(max_request_line=256, max_headers=8, max_header_bytes=512))
    rejected = False
    for piece in pieces:
        events = parser.feed(piece)
        if rejected:
            assert events == []  # Nothing is parsed after a rejection.
        rejected = rejected or any(isinstance(e, RequestRejected) for e in events)


@settings(max_examples=500, deadline=None)
@given(
    requests(),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=5),
    st.data(),
)
def test_mutated_requests_never_raise(
    request: bytes, mutations: list[tuple[int, int]], data: st.DataObject
) -> None:
    mutated = bytearray(request)
    for position, value in mutations:
        mutated[position % len(mutated)] = value
    stream = bytes(mutated)
    whole = summarize(H1Parser().feed(stream))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    pieces = summarize(feed_in_pieces(stream, cuts))
    # Where the bytes are cut never changes whether they are accepted or what they mean.
    assert pieces.rejected == whole.rejected
    assert [(r.method, r.target, r.headers, r.body) for r in pieces.requests] == [
        (r.method, r.target, r.headers, r.body) for r in whole.requests
    ]
