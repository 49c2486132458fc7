"""Parser limits and the checks hurtle adds to llhttp (bytes in, events out)."""

from __future__ import annotations

import pytest

from hurtle.wire.h1 import (
    BodyReceived,
    Event,
    H1Limits,
    H1Parser,
    RequestEnded,
    RequestReceived,
    RequestRejected,
)


def rejected(events: list[Event]) -> int | None:
    for event in events:
        if isinstance(event, RequestRejected):
            return event.status
    return None


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # RFC 9112 section 3.2: Host is required in 1.1
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),  # ... and only once
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\n\r\n", None),  # HTTP/1.0 may omit it
        # ... and an invalid value gets 400 too (RFC 9110 section 7.2: uri-host [":" port])
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
        (b"GET / HTTP/1.0\r\nHost: a?b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: \r\n\r\n", None),  # no authority: empty (3.2)
    ],
)
def test_host_rules(head: bytes, status: int | None) -> None:
    """RFC 9112 section 3.2: a server MUST respond with 400 to an HTTP/1.1 request without
    Host, and to any request with more than one Host line or an invalid Host value."""
    assert rejected(H1Parser().feed(head)) == status


def test_a_host_checked_once_is_checked_again_when_it_changes() -> None:
    """The last valid Host is remembered per connection; a different one is checked."""
    parser = H1Parser()
    ok = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert rejected(parser.feed(ok + ok)) is None
    assert rejected(parser.feed(b"GET / HTTP/1.1\r\nHost: a a\r\n\r\n")) == 400


def test_trailing_whitespace_is_not_part_of_a_value() -> None:
    """RFC 9110 section 5.5: OWS around a field value is not part of it."""
    (event, _) = H1Parser().feed(b"GET / HTTP/1.1\r\nHost: a \t \r\nX-A:  b c\t\r\n\r\n")
    assert isinstance(event, RequestReceived)
    assert event.headers == [(b"host", b"a"), (b"x-a", b"b c")]


def test_body_limit_refuses_a_declared_length_before_the_app() -> None:
    """RFC 9110 section 15.5.14: 413 from Content-Length, no RequestReceived at all."""
    parser = H1Parser(H1Limits(max_body=10))
    events = parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
    assert [type(e) for e in events] == [RequestRejected]
    assert rejected(events) == 413
    ok = H1Parser(H1Limits(max_body=10)).feed(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"
    )
    assert rejected(ok) is None
    assert [type(e) for e in ok] == [RequestReceived, BodyReceived, RequestEnded]


def test_body_limit_stops_a_chunked_body_where_it_crosses() -> None:
    parser = H1Parser(H1Limits(max_body=10))
    events = parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert isinstance(events[0], RequestReceived)
    events = parser.feed(b"6\r\nabcdef\r\n")
    assert events == [BodyReceived(b"abcdef")]
    events = parser.feed(b"6\r\nghijkl\r\n0\r\n\r\n")
    assert rejected(events) == 413
    assert not any(isinstance(e, RequestEnded) for e in events)
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []


def test_chunk_extensions_are_bounded_when_dribbled() -> None:
    """RFC 9112 section 7.1.1: llhttp reads extensions without a bound; hurtle caps them."""
    parser = H1Parser(H1Limits(max_chunk_header=1024))
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=")
    statuses = []
    for _ in range(100):
        statuses.append(rejected(parser.feed(b"x" * 100)))
        if statuses[-1] is not None:
            break
    assert statuses[-1] == 400
    assert len(statuses) <= 12  # Refused soon after 1 KiB, not at the end.


def test_short_chunk_extensions_pass() -> None:
    parser = H1Parser(H1Limits(max_chunk_header=1024))
    events = parser.feed(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value;other\r\nhello\r\n0;last\r\n\r\n"
    )
    assert rejected(events) is None
    assert BodyReceived(b"hello") in events


def test_trailers_are_bounded_when_dribbled() -> None:
    parser = H1Parser(H1Limits(max_header_bytes=1024))
    parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ")
    status = None
    for _ in range(200):
        status = rejected(parser.feed(b"y" * 1024))
        if status is not None:
            break
    assert status == 431


def test_many_small_chunks_in_one_read_are_fine() -> None:
    """The chunk cap is per chunk header, never per read: 10,000 tiny chunks are allowed."""
    body = b"".join(b"1\r\n%c\r\n" % (97 + i % 26) for i in range(10_000)) + b"0\r\n\r\n"
    head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    parser = H1Parser(H1Limits(max_chunk_header=64))
    events = []
    stream = head + body
    for start in range(0, len(stream), 65536):
        events += parser.feed(stream[start : start + 65536])
    assert rejected(events) is None
    assert sum(len(e.data) for e in events if isinstance(e, BodyReceived)) == 10_000


def test_head_id_tracks_the_head_being_read() -> None:
    parser = H1Parser()
    assert parser.head_id is None
    parser.feed(b"GET / HTTP/1.1\r\nHo")
    first = parser.head_id
    assert first is not None
    parser.feed(b"st: a\r\n\r\nGET /2 HTTP/1.1\r\n")
    second = parser.head_id
    assert second is not None and second != first
    parser.feed(b"Host: a\r\n\r\n")
    assert parser.head_id is None
