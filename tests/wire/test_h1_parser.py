"""H1Parser: bytes in, events out.

Every test feeds bytes and looks only at the events and the parser's public
attributes. RFC 9112 (HTTP/1.1 messages) and RFC 9110 (HTTP semantics) are
cited per rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hurtle.wire.h1 import (
    REQUEST_ENDED,
    BodyReceived,
    Event,
    H1Limits,
    H1Parser,
    RequestReceived,
    RequestRejected,
)

Headers = list[tuple[bytes, bytes]]


def feed_all(parser: H1Parser, *chunks: bytes) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


def parse(*chunks: bytes, limits: H1Limits | None = None) -> list[Event]:
    return feed_all(H1Parser(limits), *chunks)


@dataclass
class Request:
    """One request as the events describe it, with its body pieces joined."""

    method: str
    target: bytes
    http_version: str
    headers: Headers
    keep_alive: bool
    expect_continue: bool
    upgrade: bytes | None
    body: bytes = b""
    ended: bool = False


@dataclass
class Outcome:
    requests: list[Request] = field(default_factory=list)
    rejected: int | None = None


def summarize(events: list[Event]) -> Outcome:
    """Group events per request, checking that they come in a valid order.

    The split of a body into BodyReceived pieces depends on how the bytes were
    fed, so pieces are joined; everything else must be identical.
    """
    outcome = Outcome()
    for event in events:
        assert outcome.rejected is None, f"event after RequestRejected: {event!r}"
        current = outcome.requests[-1] if outcome.requests else None
        if isinstance(event, RequestReceived):
            assert current is None or current.ended, "new request before the last one ended"
            outcome.requests.append(
                Request(
                    event.method,
                    event.target,
                    event.http_version,
                    list(event.headers),
                    event.keep_alive,
                    event.expect_continue,
                    event.upgrade,
                )
            )
        elif isinstance(event, BodyReceived):
            assert current is not None and not current.ended, "body outside a request"
            assert event.data, "empty BodyReceived"
            current.body += event.data
        elif isinstance(event, RequestRejected):
            outcome.rejected = event.status
        else:
            assert event is REQUEST_ENDED
            assert current is not None and not current.ended, "end outside a request"
            current.ended = True
    return outcome


def only_request(events: list[Event]) -> Request:
    outcome = summarize(events)
    assert outcome.rejected is None
    assert len(outcome.requests) == 1
    request = outcome.requests[0]
    assert request.ended
    return request


def rejection(events: list[Event]) -> RequestRejected:
    assert events, "no events"
    last = events[-1]
    assert isinstance(last, RequestRejected), events
    summarize(events)  # also checks that nothing follows it
    return last


def get(target: bytes = b"/", *fields: bytes, version: bytes = b"1.1") -> bytes:
    lines = [b"GET " + target + b" HTTP/" + version, b"Host: example.com", *fields]
    return b"\r\n".join(lines) + b"\r\n\r\n"


# -- one request -------------------------------------------------------------------------


def test_simple_get() -> None:
    """RFC 9112 section 3: request-line = method SP request-target SP HTTP-version."""
    parser = H1Parser()
    events = parser.feed(b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert len(events) == 2
    head = events[0]
    assert isinstance(head, RequestReceived)
    assert head.method == "GET"
    assert head.target == b"/index.html?q=1"
    assert head.http_version == "1.1"
    assert head.headers == [(b"host", b"example.com")]
    assert head.keep_alive
    assert not head.expect_continue
    assert head.upgrade is None
    assert events[1] is REQUEST_ENDED
    assert not parser.stopped
    assert not parser.upgraded
    assert parser.upgrade_data == b""


def test_incomplete_head_gives_no_events() -> None:
    parser = H1Parser()
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: a\r\n") == []
    assert parser.feed(b"") == []
    events = parser.feed(b"\r\n")
    assert only_request(events).target == b"/"


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_methods(method: str) -> None:
    """RFC 9110 section 9: the method token, case-sensitive, as sent."""
    data = method.encode() + b" / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
    assert only_request(parse(data)).method == method


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_http_version(version: str) -> None:
    """RFC 9112 section 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT."""
    assert only_request(parse(get(version=version.encode()))).http_version == version


def test_header_names_lower_cased_order_and_duplicates_kept() -> None:
    """RFC 9110 section 5.1: field names are case-insensitive, so they are lower-cased;
    section 5.3: the order of field lines with the same name is significant and a
    recipient may not drop duplicates. Values are kept as sent (case included)."""
    data = (
        b"GET / HTTP/1.1\r\n"
        b"Host: example.com\r\n"
        b"X-Trace: One\r\n"
        b"ACCEPT: text/html\r\n"
        b"x-trace: two\r\n"
        b"Cookie: a=1\r\n"
        b"X-TRACE: three\r\n"
        b"X-Empty:\r\n"
        b"\r\n"
    )
    assert only_request(parse(data)).headers == [
        (b"host", b"example.com"),
        (b"x-trace", b"One"),
        (b"accept", b"text/html"),
        (b"x-trace", b"two"),
        (b"cookie", b"a=1"),
        (b"x-trace", b"three"),
        (b"x-empty", b""),
    ]


def test_leading_whitespace_of_values_is_not_part_of_them() -> None:
    """RFC 9112 section 5: field-line = field-name ":" OWS field-value OWS."""
    assert only_request(parse(get(b"/", b"X-A:   spaced out"))).headers[-1] == (
        b"x-a",
        b"spaced out",
    )


def test_trailing_whitespace_of_values_is_not_part_of_them() -> None:
    """RFC 9110 section 5.5: a field parsing implementation MUST exclude leading and trailing
    whitespace before evaluating the field value."""
    assert only_request(parse(get(b"/", b"X-A: value \t"))).headers[-1] == (b"x-a", b"value")


# -- request targets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        b"/",
        b"/a/b%20c?x=1&y=%2F#",
        b"/path;params?q",
        b"http://example.com/a?b=c",
        b"HTTP://Example.COM:8080",
        b"https://example.com/%7Euser",
        b"http://[::1]:8080/a",
    ],
)
def test_target_kept_as_received(target: bytes) -> None:
    """RFC 9112 section 3.2: origin-form and (section 3.2.2) absolute-form; the parser
    neither decodes nor normalizes, the scope does that once."""
    assert only_request(parse(get(target))).target == target


def test_asterisk_form() -> None:
    """RFC 9112 section 3.2.4: OPTIONS * for the server as a whole."""
    request = only_request(parse(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert (request.method, request.target) == ("OPTIONS", b"*")


@pytest.mark.parametrize("method", [b"GET", b"POST", b"DELETE"])
def test_asterisk_form_is_for_options_only(method: bytes) -> None:
    """RFC 9112 section 3.2.4: the asterisk-form is only used for a server-wide OPTIONS;
    section 3.2: an invalid request-line SHOULD get 400, not an autocorrection."""
    assert rejection(parse(method + b" * HTTP/1.1\r\nHost: a\r\n\r\n")).status == 400


def test_connect_needs_the_authority_form() -> None:
    """RFC 9112 section 3.2.3: CONNECT takes host:port, nothing else."""
    assert rejection(parse(b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n")).status == 400


@pytest.mark.parametrize(
    ("target", "host_fields", "host"),
    [
        (b"http://example.com/a", [b"Host: other.example"], b"example.com"),
        (b"http://example.com:8080?q", [b"Host: other.example"], b"example.com:8080"),
        (b"https://[2001:db8::1]:443/", [b"Host: x"], b"[2001:db8::1]:443"),
    ],
)
def test_absolute_form_authority_replaces_the_host_header(
    target: bytes, host_fields: list[bytes], host: bytes
) -> None:
    """RFC 9112 section 3.2.2: a server MUST accept the absolute-form, and an origin server
    MUST ignore the received Host and use the host of the request-target instead. The app
    reads the host from the headers, so the host header carries the target's authority."""
    data = b"GET " + target + b" HTTP/1.1\r\n" + b"".join(f + b"\r\n" for f in host_fields)
    request = only_request(parse(data + b"X-A: 1\r\n\r\n"))
    assert request.target == target
    assert request.headers == [(b"host", host), (b"x-a", b"1")]


def test_absolute_form_gives_http_1_0_a_host() -> None:
    """RFC 9112 section 3.2.2: the target's authority is the host, Host header or not."""
    request = only_request(parse(b"GET http://example.com/ HTTP/1.0\r\n\r\n"))
    assert request.headers == [(b"host", b"example.com")]


@pytest.mark.parametrize(
    "target",
    [b"http:///path", b"http://:80/path", b"http://user:pw@example.com/", b"http://a b/"],
    ids=["empty-host", "port-only", "userinfo", "space"],
)
def test_invalid_absolute_form_is_rejected(target: bytes) -> None:
    """RFC 9110 section 4.2.1: a recipient MUST reject an http URI with an empty host;
    section 4.2.4: userinfo in an http(s) URI SHOULD be treated as an error."""
    data = b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert rejection(parse(data)).status == 400


def test_empty_lines_before_a_request_line_are_ignored() -> None:
    """RFC 9112 section 2.2: a server SHOULD ignore at least one empty line (CRLF) received
    before the request-line."""
    outcome = summarize(parse(b"\r\n" + get(b"/one") + b"\r\n\r\n" + get(b"/two")))
    assert outcome.rejected is None
    assert [r.target for r in outcome.requests] == [b"/one", b"/two"]


# -- persistence ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"1.1", None, True),
        (b"1.1", b"Connection: close", False),
        (b"1.1", b"Connection: CLOSE", False),
        (b"1.1", b"Connection: keep-alive, close", False),
        (b"1.1", b"Connection: keep-alive", True),
        (b"1.0", None, False),
        (b"1.0", b"Connection: keep-alive", True),
        (b"1.0", b"Connection: Keep-Alive", True),
        (b"1.0", b"Connection: close", False),
    ],
)
def test_keep_alive(version: bytes, connection: bytes | None, keep_alive: bool) -> None:
    """RFC 9112 section 9.3: HTTP/1.1 persists unless the close option is present; HTTP/1.0
    persists only with the keep-alive option (appendix C.2.2). Options are case-insensitive
    (RFC 9110 section 7.6.1)."""
    fields = [connection] if connection else []
    assert only_request(parse(get(b"/", *fields, version=version))).keep_alive is keep_alive


# -- Expect: 100-continue -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "fields", "expected"),
    [
        (b"1.1", [b"Expect: 100-continue"], True),
        (b"1.1", [b"Expect: 100-Continue"], True),
        (b"1.1", [], False),
        (b"1.1", [b"Expect: something-else"], False),
        (b"1.0", [b"Expect: 100-continue"], False),
    ],
)
def test_expect_continue(version: bytes, fields: list[bytes], expected: bool) -> None:
    """RFC 9110 section 10.1.1: 100-continue (case-insensitive) asks for an interim 100
    before the body is sent; a server MUST NOT send 100 to an HTTP/1.0 client, so the
    expectation is ignored for 1.0."""
    data = (
        b"POST / HTTP/"
        + version
        + b"\r\nHost: a\r\nContent-Length: 2\r\n"
        + b"".join(f + b"\r\n" for f in fields)
        + b"\r\n"
    )
    parser = H1Parser()
    events = parser.feed(data)
    # The head arrives before the body, so the server can answer 100 in time.
    assert len(events) == 1
    head = events[0]
    assert isinstance(head, RequestReceived)
    assert head.expect_continue is expected
    assert summarize(events + parser.feed(b"hi")).requests[0].body == b"hi"


# -- bodies -----------------------------------------------------------------------------------------


def test_content_length_body() -> None:
    """RFC 9112 section 6.2: Content-Length gives the body length in octets."""
    data = b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
    request = only_request(parse(data))
    assert request.body == b"hello world"


def test_content_length_body_in_pieces() -> None:
    parser = H1Parser()
    head = parser.feed(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab")
    assert [type(e) for e in head] == [RequestReceived, BodyReceived]
    assert head[1] == BodyReceived(b"ab")
    assert parser.feed(b"cd") == [BodyReceived(b"cd")]
    assert parser.feed(b"ef") == [BodyReceived(b"ef"), REQUEST_ENDED]


@pytest.mark.parametrize(
    "fields", [[b"Content-Length: 0"], []], ids=["content-length-0", "no-length"]
)
def test_request_without_body(fields: list[bytes]) -> None:
    """RFC 9112 section 6.3 rule 7: a request with neither Content-Length nor
    Transfer-Encoding has a body of length zero; no BodyReceived at all."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    events = parse(data)
    assert [type(e) for e in events] == [RequestReceived, type(REQUEST_ENDED)]


CHUNKED_REQUEST = (
    b"POST /chunks HTTP/1.1\r\n"
    b"Host: a\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Trailer: Expires\r\n"
    b"\r\n"
    b"4;name=value\r\n"
    b"Wiki\r\n"
    b"5;flag\r\n"
    b"pedia\r\n"
    b"E\r\n"
    b" in\r\n\r\nchunks.\r\n"
    b"0\r\n"
    b"Expires: never\r\n"
    b"X-Checksum: abc\r\n"
    b"\r\n"
)


def test_chunked_body_with_extensions_and_trailers() -> None:
    """RFC 9112 section 7.1: the chunked coding is removed (chunk-size in hex); section
    7.1.1: unrecognized chunk extensions are ignored; section 7.1.2 and RFC 9110 section
    6.5.1: trailer fields are not merged into the header section."""
    request = only_request(parse(CHUNKED_REQUEST))
    assert request.body == b"Wikipedia in\r\n\r\nchunks."
    assert request.headers == [
        (b"host", b"a"),
        (b"transfer-encoding", b"chunked"),
        (b"trailer", b"Expires"),
    ]


def test_trailers_do_not_change_headers_already_handed_out() -> None:
    """RFC 9110 section 6.5.1: the header list the app already holds must not grow later."""
    parser = H1Parser()
    first = parser.feed(CHUNKED_REQUEST[: CHUNKED_REQUEST.index(b"Expires: never")])
    head = first[0]
    assert isinstance(head, RequestReceived)
    seen = list(head.headers)
    rest = parser.feed(CHUNKED_REQUEST[CHUNKED_REQUEST.index(b"Expires: never") :])
    assert rest == [REQUEST_ENDED]
    assert head.headers == seen


def test_trailers_do_not_leak_into_the_next_request() -> None:
    events = parse(CHUNKED_REQUEST + get(b"/next"))
    assert summarize(events).requests[1].headers == [(b"host", b"example.com")]


def test_framing_fields_in_trailers_mean_nothing() -> None:
    """RFC 9110 section 6.5.1: Host, Expect or Upgrade as trailer fields neither
    count for the request they end nor carry over to the next one."""
    data = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
        b"0\r\nHost: b\r\nExpect: 100-continue\r\nUpgrade: websocket\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    events = parse(data)
    heads = [event for event in events if isinstance(event, RequestReceived)]
    assert [head.target for head in heads] == [b"/", b"/next"]
    assert all(head.upgrade is None and not head.expect_continue for head in heads)
    assert not any(isinstance(event, RequestRejected) for event in events)


def test_chunked_body_without_trailers() -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert only_request(parse(data)).body == b"abc"


# -- pipelining and splits ----------------------------------------------------------------------


POST_WITH_LENGTH = (
    b"POST /upload?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
    b"Expect: 100-continue\r\n\r\nhello world"
)
GET_CLOSE = b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
PIPELINE = POST_WITH_LENGTH + CHUNKED_REQUEST + GET_CLOSE


def expected_pipeline() -> Outcome:
    return Outcome(
        [
            Request(
                "POST",
                b"/upload?x=1",
                "1.1",
                [(b"host", b"a"), (b"content-length", b"11"), (b"expect", b"100-continue")],
                True,
                True,
                None,
                b"hello world",
                True,
            ),
            Request(
                "POST",
                b"/chunks",
                "1.1",
                [(b"host", b"a"), (b"transfer-encoding", b"chunked"), (b"trailer", b"Expires")],
                True,
                False,
                None,
                b"Wikipedia in\r\n\r\nchunks.",
                True,
            ),
            Request(
                "GET",
                b"/last",
                "1.1",
                [(b"host", b"a"), (b"connection", b"close")],
                False,
                False,
                None,
                b"",
                True,
            ),
        ]
    )


def test_pipelined_requests_in_one_feed_come_out_in_order() -> None:
    """RFC 9112 section 9.3.2: a client may send several requests without waiting; the
    server handles them in the order received."""
    events = parse(PIPELINE)
    assert summarize(events) == expected_pipeline()
    assert sum(1 for e in events if e is REQUEST_ENDED) == 3


def test_byte_by_byte_gives_the_same_events() -> None:
    """RFC 9112 section 2.2: message boundaries come from the message, never from how the
    bytes were read."""
    chunks = [PIPELINE[i : i + 1] for i in range(len(PIPELINE))]
    assert summarize(parse(*chunks)) == expected_pipeline()


@pytest.mark.parametrize(
    "stream",
    [POST_WITH_LENGTH + CHUNKED_REQUEST, CHUNKED_REQUEST + GET_CLOSE, get(b"/1") + GET_CLOSE],
    ids=["length+chunked", "chunked+get", "get+get"],
)
def test_every_split_of_two_pipelined_requests_gives_the_same_events(stream: bytes) -> None:
    """RFC 9112 section 2.2: as above, for each point where one read may end and the next
    begin, across heads, bodies, chunk framing and trailers."""
    expected = summarize(parse(stream))
    assert len(expected.requests) == 2
    assert all(r.ended for r in expected.requests)
    for cut in range(len(stream) + 1):
        assert summarize(parse(stream[:cut], stream[cut:])) == expected, f"split at {cut}"


def test_every_three_way_split_of_a_chunked_request() -> None:
    """Two cuts catch states one cut cannot, e.g. a chunk-size line split twice. (Reads
    are never empty: an empty feed inside a body gives an empty BodyReceived.)"""
    stream = CHUNKED_REQUEST
    expected = summarize(parse(stream))
    for first in range(1, len(stream), 3):
        for second in range(first + 1, len(stream)):
            chunks = (stream[:first], stream[first:second], stream[second:])
            assert summarize(parse(*chunks)) == expected, f"split at {first}, {second}"


def test_many_pipelined_requests_in_large_reads_are_not_rejected() -> None:
    """Regression: bytes of a head that begins in a read are not counted against the head
    size cap, so small pipelined requests read 64 KiB at a time are all served (RFC 9112
    section 9.3.2), even when every read ends inside a head."""
    request = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    stream = request * 10_000
    for read_size in (40_000, 65_536, 262_144):
        parser = H1Parser()
        chunks = [stream[i : i + read_size] for i in range(0, len(stream), read_size)]
        outcome = summarize(feed_all(parser, *chunks))
        assert outcome.rejected is None, read_size
        assert len(outcome.requests) == 10_000


def test_a_large_head_spread_over_many_reads_is_accepted() -> None:
    """Within the limits, a head may arrive in any number of pieces."""
    fields = [b"X-Field-%02d: %s" % (i, b"v" * 150) for i in range(90)]
    data = get(b"/", *fields)
    assert 14_000 < len(data) < 16_384
    chunks = [data[i : i + 100] for i in range(0, len(data), 100)]
    assert len(only_request(parse(*chunks)).headers) == 91


# -- upgrade --------------------------------------------------------------------------------------


WEBSOCKET_HEAD = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: example.com\r\n"
    b"Connection: Upgrade\r\n"
    b"Upgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
# Bytes that follow belong to the new protocol, even when they look like HTTP.
AFTER_UPGRADE = (
    b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
)


def test_upgrade_stops_http_parsing() -> None:
    """RFC 9110 section 7.8: after an upgrade the connection speaks the new protocol from
    the end of the request's head; nothing after it is parsed as HTTP."""
    parser = H1Parser()
    events = parser.feed(WEBSOCKET_HEAD + AFTER_UPGRADE)
    request = only_request(events)
    assert request.upgrade == b"websocket"
    assert request.target == b"/chat"
    assert parser.upgraded
    assert parser.stopped
    assert parser.upgrade_data == AFTER_UPGRADE
    assert parser.feed(get(b"/later")) == []
    assert parser.upgrade_data == AFTER_UPGRADE


def test_upgrade_data_at_every_split() -> None:
    """Wherever the reads are cut, upgrade_data plus the later reads are exactly the bytes
    after the head."""
    stream = WEBSOCKET_HEAD + AFTER_UPGRADE
    for cut in range(len(WEBSOCKET_HEAD), len(stream) + 1):
        parser = H1Parser()
        events = parser.feed(stream[:cut])
        assert parser.upgraded, cut
        assert only_request(events).upgrade == b"websocket"
        assert parser.feed(stream[cut:]) == []
        assert parser.upgrade_data + stream[cut:] == AFTER_UPGRADE, cut


def test_upgrade_head_fed_byte_by_byte() -> None:
    parser = H1Parser()
    events = feed_all(parser, *(WEBSOCKET_HEAD[i : i + 1] for i in range(len(WEBSOCKET_HEAD))))
    assert only_request(events).upgrade == b"websocket"
    assert parser.upgraded
    assert parser.upgrade_data == b""


def test_upgrade_option_among_others() -> None:
    """RFC 9110 section 7.6.1: Connection is a list of options."""
    parser = H1Parser()
    data = get(b"/", b"Connection: keep-alive, Upgrade", b"Upgrade: h2c") + b"rest"
    assert only_request(parser.feed(data)).upgrade == b"h2c"
    assert parser.upgraded
    assert parser.upgrade_data == b"rest"


def test_upgrade_header_without_connection_option_is_captured_but_not_acted_on() -> None:
    """RFC 9110 section 7.8: a sender of Upgrade MUST also send the "upgrade" connection
    option; without it the request is an ordinary request and parsing goes on."""
    parser = H1Parser()
    events = parser.feed(get(b"/a", b"Upgrade: websocket") + get(b"/b"))
    outcome = summarize(events)
    assert [r.upgrade for r in outcome.requests] == [b"websocket", None]
    assert not parser.upgraded
    assert not parser.stopped


def test_connect_switches_to_a_tunnel() -> None:
    """RFC 9110 section 9.3.6: after CONNECT (authority-form target, RFC 9112 section
    3.2.3) the connection is a tunnel."""
    parser = H1Parser()
    events = parser.feed(
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03"
    )
    request = only_request(events)
    assert (request.method, request.target) == ("CONNECT", b"example.com:443")
    assert parser.upgraded
    assert parser.upgrade_data == b"\x16\x03"


# -- rejections -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"G@T / HTTP/1.1\r\n\r\n",
        b"get / HTTP/1.1\r\n\r\n",
        b"GET / FOO/1.1\r\n\r\n",
        b"GET / http/1.1\r\n\r\n",
        b"GET /a b HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
    ],
    ids=[
        "method-only",
        "extra-word",
        "bad-method-char",
        "lower-case-method",
        "not-http",
        "lower-case-http",
        "space-in-target",
        "bare-lf",
        "tls-client-hello",
        "space-before-colon",
        "obs-fold",
        "nul-in-value",
        "no-colon",
        "space-before-first-field",
    ],
)
def test_malformed_request_is_rejected_with_400(data: bytes) -> None:
    """RFC 9112 section 2.2: octets that do not match the HTTP-message grammar get 400 and
    the connection closes; section 3: single SP between the request-line's parts, method
    is a case-sensitive token (RFC 9110 section 9.1); section 2.2: no bare LF as line end
    here; section 5.1: no whitespace between field name and colon (MUST reject, 400);
    section 5.2: obs-fold is rejected with 400; RFC 9110 section 5.5: no NUL in values;
    section 2.2: whitespace between the start-line and the first field MUST be rejected
    (or the line ignored)."""
    parser = H1Parser()
    assert rejection(parser.feed(data)).status == 400
    assert parser.stopped


@pytest.mark.parametrize(
    "fields",
    [
        [b"Content-Length: 3", b"Transfer-Encoding: chunked"],
        [b"Transfer-Encoding: chunked", b"Content-Length: 3"],
    ],
    ids=["cl-first", "te-first"],
)
def test_content_length_with_transfer_encoding_is_rejected(fields: list[bytes]) -> None:
    """RFC 9112 section 6.1: such a message may be an attempt at request smuggling (section
    11.2); the server may reject it, and hurtle does (400) rather than guess."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\n" + b"".join(f + b"\r\n" for f in fields)
    data += b"\r\n3\r\nabc\r\n0\r\n\r\n"
    assert rejection(parse(data)).status == 400


@pytest.mark.parametrize(
    "fields",
    [
        [b"Content-Length: 3", b"Content-Length: 4"],
        [b"Content-Length: -1"],
        [b"Content-Length: 1a"],
        [b"Transfer-Encoding: chunked, gzip"],
        [b"Transfer-Encoding: gzip"],
        [b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip"],
        [b"Transfer-Encoding: chunked;q=1"],
    ],
    ids=[
        "two-lengths",
        "negative",
        "not-digits",
        "chunked-not-last",
        "no-chunked",
        "chunked-not-last-line",
        "chunked-with-parameter",
    ],
)
def test_invalid_framing_is_rejected(fields: list[bytes]) -> None:
    """RFC 9112 section 6.3 rules 4 and 5: with a Transfer-Encoding whose final coding is
    not chunked, or an invalid Content-Length, the request length is unknown: 400 (and
    close). Section 7.1: chunked has no parameters; their presence SHOULD be an error."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\nabcd"
    assert rejection(parse(data)).status == 400


@pytest.mark.parametrize(
    "fields",
    [
        [b"Transfer-Encoding: gzip, chunked"],
        [b"Transfer-Encoding: x-custom ,chunked"],
        [b"Transfer-Encoding: deflate", b"Transfer-Encoding: chunked"],
    ],
    ids=["gzip", "unregistered", "two-lines"],
)
def test_transfer_coding_other_than_chunked_gets_501(fields: list[bytes]) -> None:
    """RFC 9112 section 6.1: a server that receives a request with a transfer coding it
    does not understand SHOULD respond with 501. hurtle decodes chunked only; before this,
    a gzip-coded body reached the app as if it were the content."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\n" + b"".join(f + b"\r\n" for f in fields)
    parser = H1Parser()
    assert rejection(parser.feed(data + b"\r\n3\r\nabc\r\n0\r\n\r\n")).status == 501
    assert parser.stopped


@pytest.mark.parametrize("coding", [b"chunked", b"Chunked", b"CHUNKED", b" chunked"])
def test_chunked_is_case_insensitive(coding: bytes) -> None:
    """RFC 9112 section 7: transfer coding names are case-insensitive."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:" + coding + b"\r\n\r\n"
    assert only_request(parse(data + b"3\r\nabc\r\n0\r\n\r\n")).body == b"abc"


@pytest.mark.parametrize(
    "connection", [b"Connection: keep-alive", b"Connection: close", None], ids=str
)
def test_http_1_0_with_transfer_encoding_is_the_last_request(connection: bytes | None) -> None:
    """RFC 9112 section 6.1: a server that receives an HTTP/1.0 message with
    Transfer-Encoding MUST treat its framing as faulty and close the connection after
    processing it. The body is read as chunked and the request is answered; it is not
    kept alive, and nothing after it is parsed, in the same read or a later one (a 1.0
    proxy in front may have framed those bytes differently: they would be smuggled)."""
    fields = [b"Transfer-Encoding: chunked", *([connection] if connection else [])]
    data = b"POST /first HTTP/1.0\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    smuggled = b"GET /second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    parser = H1Parser()
    events = parser.feed(data + b"3\r\nabc\r\n0\r\n\r\n" + smuggled)
    request = only_request(events)
    assert (request.target, request.body) == (b"/first", b"abc")
    assert not request.keep_alive
    assert parser.stopped
    assert parser.feed(smuggled) == []


def test_http_1_0_with_transfer_encoding_split_across_reads() -> None:
    """The same, wherever the reads are cut."""
    stream = (
        b"POST /first HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\nGET /second HTTP/1.0\r\n\r\n"
    )
    for cut in range(1, len(stream)):
        outcome = summarize(parse(stream[:cut], stream[cut:]))
        assert [r.target for r in outcome.requests] == [b"/first"], cut
        assert outcome.rejected is None
        assert not outcome.requests[0].keep_alive


def test_http_1_0_with_transfer_encoding_and_content_length_is_rejected() -> None:
    """RFC 9112 section 6.1: faulty framing even with a Content-Length; both together are
    refused anyway (section 6.3 rule 3)."""
    data = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    assert rejection(parse(data + b"0\r\n\r\n")).status == 400


@pytest.mark.parametrize(
    "chunk",
    [b"zz\r\n", b"-1\r\n", b"\r\n", b"3 \r\nabc\r\n", b"ffffffffffffffffff\r\n", b"3\r\nabcX\r\n"],
    ids=["not-hex", "negative", "empty", "space-after-size", "overflow", "no-crlf-after-data"],
)
def test_bad_chunk_is_rejected(chunk: bytes) -> None:
    """RFC 9112 section 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF,
    chunk-size = 1*HEXDIG. The head was fine, so it was already reported."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk
    events = parse(data)
    assert isinstance(events[0], RequestReceived)
    assert rejection(events).status == 400


@pytest.mark.parametrize(
    ("version", "statuses"),
    [
        (b"2.0", {505}),
        (b"3.0", {400, 505}),
        (b"3", {400, 505}),
        (b"0.9", {505}),
        (b"1.2", {400, 505}),
    ],
)
def test_unsupported_versions(version: bytes, statuses: set[int]) -> None:
    """RFC 9112 section 2.3 and RFC 9110 section 15.6.6: this server speaks HTTP/1.0 and
    1.1 on this path; other versions get 505 (or 400 when llhttp finds the version token
    malformed). HTTP/2 arrives by its own preface, never as an HTTP/1 request line."""
    parser = H1Parser()
    assert rejection(parser.feed(get(b"/", version=version))).status in statuses
    assert parser.stopped


def test_http_0_9_simple_request_is_rejected() -> None:
    """A request line without a version (HTTP/0.9) is not served."""
    assert rejection(parse(b"GET /\r\n\r\n")).status in (400, 505)


# -- limits ---------------------------------------------------------------------------------------


def test_target_at_the_limit_is_accepted_and_over_it_rejected_with_414() -> None:
    """RFC 9112 section 3: a server that receives a request-target longer than it wishes
    to parse MUST respond with 414 (RFC 9110 section 15.5.15). H1Limits.max_request_line
    bounds the target, the part of the request line a client controls in length."""
    limits = H1Limits(max_request_line=100)
    target = b"/" + b"a" * 99
    assert only_request(parse(get(target), limits=limits)).target == target
    assert rejection(parse(get(target + b"a"), limits=limits)).status == 414


def test_default_request_line_limit() -> None:
    limit = H1Limits().max_request_line
    assert only_request(parse(get(b"/" + b"a" * (limit - 1))))
    assert rejection(parse(get(b"/" + b"a" * limit))).status == 414


def test_endless_request_line_is_rejected_early() -> None:
    """The 414 comes as soon as the target passes the limit, not at the end of the line."""
    parser = H1Parser(H1Limits(max_request_line=1000))
    assert parser.feed(b"GET /") == []
    for index in range(256):
        events = parser.feed(b"a" * 4096)
        if events:
            assert rejection(events).status == 414
            assert index == 0
            return
    pytest.fail("no rejection")


def test_too_many_header_fields_rejected_with_431() -> None:
    """RFC 9112 section 5 and RFC 6585 section 5: a set of fields larger than the server
    wishes to process gets a 4xx; 431 Request Header Fields Too Large."""
    limits = H1Limits(max_headers=5)
    at_limit = [b"X-%d: 1" % i for i in range(4)]  # plus Host
    assert len(only_request(parse(get(b"/", *at_limit), limits=limits)).headers) == 5
    over = [*at_limit, b"X-last: 1"]
    assert rejection(parse(get(b"/", *over), limits=limits)).status == 431


def test_default_header_count_limit() -> None:
    limit = H1Limits().max_headers
    fields = [b"X-%d: 1" % i for i in range(limit)]  # plus Host: one too many
    assert rejection(parse(get(b"/", *fields))).status == 431
    assert only_request(parse(get(b"/", *fields[:-1])))


def test_header_bytes_over_the_limit_rejected_with_431() -> None:
    """RFC 9112 section 5 / RFC 6585 section 5: counted as name plus value octets."""
    limits = H1Limits(max_header_bytes=100)
    # host + example.com = 15 octets; x-big + value = 5 + 80
    at_limit = b"X-Big: " + b"v" * 80
    assert only_request(parse(get(b"/", at_limit), limits=limits))
    assert rejection(parse(get(b"/", at_limit + b"v"), limits=limits)).status == 431


def test_one_huge_header_with_default_limits() -> None:
    assert rejection(parse(get(b"/", b"X: " + b"a" * 20_000))).status == 431


ENDLESS_HEADS = {
    "value": b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ",
    "name": b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless",
    "after-a-pipelined-request": get(b"/ok") + b"GET / HTTP/1.1\r\nX-Endless: ",
}


@pytest.mark.parametrize("start", ENDLESS_HEADS.values(), ids=ENDLESS_HEADS.keys())
@pytest.mark.parametrize("limits", [H1Limits(), H1Limits(1000, 10, 1000)], ids=["default", "small"])
def test_endless_header_line_is_rejected_without_unbounded_buffering(
    start: bytes, limits: H1Limits
) -> None:
    """RFC 9112 section 5 / RFC 6585 section 5: a header line that never ends must be
    refused once it passes the limits, not buffered until memory runs out. 1 MiB is
    offered in 4 KiB reads; the 431 must come within the limits plus a few reads."""
    parser = H1Parser(limits)
    events = parser.feed(start)
    piece = b"a" * 4096
    budget = limits.max_request_line + limits.max_header_bytes + 8192 + 2 * len(piece)
    fed = 0
    while fed < 1 << 20:
        events += parser.feed(piece)
        fed += len(piece)
        if any(isinstance(e, RequestRejected) for e in events):
            break
    assert rejection(events).status == 431
    assert fed <= budget, f"rejected only after {fed} bytes"
    assert parser.feed(piece) == []


def test_endless_trailer_line_is_rejected_without_unbounded_buffering() -> None:
    """RFC 9112 section 7.1.2: the trailer section is a field section like the head and
    needs the same bound."""
    parser = H1Parser()
    events = parser.feed(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Endless: "
    )
    fed = 0
    while fed < 1 << 20 and not any(isinstance(e, RequestRejected) for e in events):
        events += parser.feed(b"a" * 4096)
        fed += 4096
    assert rejection(events).status == 431
    assert fed <= 64 * 1024


# -- nothing after a rejection -----------------------------------------------------------------------


BAD_REQUESTS = {
    "malformed": b"GET / HTTP/1.1 x\r\n\r\n",
    "cl-and-te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bad-chunk": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "version": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
}


@pytest.mark.parametrize("bad", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_nothing_is_parsed_after_a_rejection(bad: bytes) -> None:
    """RFC 9112 section 11.2: bytes the server did not understand must never be taken for
    the start of another request (request smuggling). After RequestRejected the parser
    returns no events, whether the next request is in the same read or a later one."""
    smuggled = get(b"/admin")
    parser = H1Parser()
    events = parser.feed(bad + smuggled)
    assert isinstance(events[-1], RequestRejected)
    assert all(not (isinstance(e, RequestReceived) and e.target == b"/admin") for e in events)
    assert parser.stopped
    assert not parser.upgraded
    assert parser.feed(smuggled) == []
    assert parser.feed(smuggled + smuggled) == []


def test_requests_before_a_rejection_are_kept() -> None:
    """Requests complete before the bad bytes are answered in order, then the 400."""
    events = parse(get(b"/one") + b"BAD REQUEST\r\n\r\n" + get(b"/three"))
    outcome = summarize(events)
    assert [r.target for r in outcome.requests] == [b"/one"]
    assert outcome.requests[0].ended
    assert outcome.rejected == 400


def test_rejection_split_across_reads() -> None:
    parser = H1Parser()
    assert parser.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n") == []
    events = parser.feed(b"Transfer-Encoding: chunked\r\n\r\n" + get(b"/admin"))
    assert rejection(events).status == 400
    assert parser.feed(get(b"/admin")) == []


def test_nothing_is_parsed_after_a_request_with_connection_close() -> None:
    """RFC 9112 section 9.6: after a request with the close option the server MUST NOT
    process any further requests on the connection. (llhttp reports the extra bytes as
    an error; the request before them is complete and is answered first.)"""
    parser = H1Parser()
    events = parser.feed(GET_CLOSE + get(b"/after"))
    outcome = summarize(events)
    assert [r.target for r in outcome.requests] == [b"/last"]
    assert outcome.requests[0].ended
    assert not outcome.requests[0].keep_alive
    assert parser.feed(get(b"/later")) == []


def test_body_bytes_beyond_content_length_are_the_next_request() -> None:
    """RFC 9112 section 6.2: the body ends after Content-Length octets; what follows is the
    next message, parsed (and here rejected) as such."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcdef"
    events = parse(data)
    outcome = summarize(events)
    assert outcome.requests[0].body == b"abc"
    assert outcome.requests[0].ended
    assert outcome.rejected == 400


def test_event_reprs_name_what_happened() -> None:
    """Events show up in logs and assertion messages; their reprs say what they are."""
    events = parse(b"POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiBAD\r\n\r\n")
    assert [repr(e) for e in events[:3]] == [
        "RequestReceived(POST b'/r' HTTP/1.1)",
        "BodyReceived(b'hi')",
        "REQUEST_ENDED",
    ]
    assert repr(events[3]).startswith("RequestRejected(400, 'Malformed request: ")


@pytest.mark.parametrize(
    "framing",
    [b"Content-Length: 4\r\n\r\nbody", b"Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"],
    ids=["content-length", "chunked"],
)
@pytest.mark.parametrize("split", [False, True])
def test_an_upgrade_request_with_a_body_is_served_with_its_body(
    framing: bytes, split: bool
) -> None:
    """RFC 9110 section 7.8: a server may ignore Upgrade, and then serves the request as
    it is. llhttp takes every byte after an Upgrade head for the new protocol's; hurtle
    never upgrades a request with a body (a WebSocket handshake is a GET; h2c is taken
    without a body only), so the body is read and reaches the app, and the connection
    closes after the response. Before, the app saw an empty body."""
    head = b"POST /x HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" + framing
    chunks = (
        (head[: len(head) - 3], head[len(head) - 3 :], b"GET / HTTP/1.1\r\n")
        if split
        else (head + b"GET / HTTP/1.1\r\n",)
    )
    parser = H1Parser(H1Limits())
    events = feed_all(parser, *chunks)
    assert isinstance(events[0], RequestReceived)
    assert events[0].upgrade is None  # Not offered to the connection as an upgrade.
    assert not events[0].keep_alive
    assert b"".join(e.data for e in events if isinstance(e, BodyReceived)) == b"body"
    assert events[-1] is REQUEST_ENDED
    assert parser.stopped  # What follows the body is never read.


def test_an_upgrade_request_without_a_body_is_still_an_upgrade() -> None:
    parser = H1Parser(H1Limits())
    events = feed_all(
        parser,
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nrest",
    )
    assert isinstance(events[0], RequestReceived)
    assert events[0].upgrade == b"websocket"
    assert parser.upgraded and parser.upgrade_data == b"rest"
