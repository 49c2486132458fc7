"""Status lines and response header validation (hurtle.wire.headers)."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest

from hurtle.wire.headers import (
    InvalidResponse,
    ResponseHeaders,
    check_response_headers,
    check_status,
    status_line,
)

# RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF,
# reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
STATUS_LINE = re.compile(rb"HTTP/1\.1 [1-5][0-9]{2} [\t\x20-\x7e\x80-\xff]*\r\n")


# -- check_status ---------------------------------------------------------------


@pytest.mark.parametrize("status", [100, 101, 200, 204, 299, 304, 404, 418, 500, 599])
def test_check_status_accepts_three_digit_codes(status: int) -> None:
    """RFC 9110 section 15: a status code is a three-digit integer from 100 to 599."""
    assert check_status(status) == status


@pytest.mark.parametrize(
    "status",
    [99, 600, 999, 0, -200, 1000, "200", b"200", 200.0, None, True, False],
    ids=repr,
)
def test_check_status_rejects(status: object) -> None:
    """RFC 9110 section 15: only an int in 100..599. ASGI says the status is an int,
    so a str, a float or a bool (an int subclass: True == 1) is the app's mistake."""
    with pytest.raises(InvalidResponse, match="status"):
        check_status(status)


def test_check_status_accepts_httpstatus() -> None:
    """http.HTTPStatus is an int subclass that frameworks pass as the status."""
    result = check_status(HTTPStatus.CREATED)
    assert result == 201 and type(result) is int


# -- status_line ----------------------------------------------------------------


def test_status_line_known_codes() -> None:
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert status_line(101) == b"HTTP/1.1 101 Switching Protocols\r\n"


def test_status_line_unknown_code_has_empty_reason() -> None:
    """RFC 9112 section 4: the reason phrase is optional, but the SP before it is not."""
    assert status_line(299) == b"HTTP/1.1 299 \r\n"
    assert status_line(599) == b"HTTP/1.1 599 \r\n"


def test_every_accepted_status_has_a_valid_line() -> None:
    """Every code that check_status accepts maps to a status line that fits RFC 9112 section 4."""
    for status in range(100, 600):
        line = status_line(check_status(status))
        assert STATUS_LINE.fullmatch(line), line
        assert line.startswith(b"HTTP/1.1 %d " % status)


@pytest.mark.parametrize("status", [99, 600, 999])
def test_status_line_has_no_line_outside_the_range(status: int) -> None:
    """Outside 100..599 there is no line to send (check_status stops those first)."""
    with pytest.raises(LookupError):
        status_line(status)


# -- check_response_headers: what passes -----------------------------------------


def test_valid_headers_become_lines() -> None:
    result = check_response_headers(
        [(b"Content-Type", b"text/plain"), (b"x-a", b"1"), (b"X-A", b"2"), (b"Vary", b"")]
    )
    assert isinstance(result, ResponseHeaders)
    # The app's spelling, order and duplicates are kept on the wire (RFC 9110 section 5.3).
    assert result.lines == (
        b"Content-Type: text/plain\r\n",
        b"x-a: 1\r\n",
        b"X-A: 2\r\n",
        b"Vary: \r\n",
    )
    # Names are compared case-insensitively (RFC 9110 section 5.1).
    assert result.names == {b"content-type", b"x-a", b"vary"}
    assert result.content_length is None
    assert not result.te_chunked
    assert not result.close


def test_no_headers() -> None:
    result = check_response_headers([])
    assert result.lines == ()
    assert result.names == frozenset()


def test_pairs_may_be_lists_and_any_iterable() -> None:
    """ASGI headers are an iterable of [name, value] two-item iterables."""
    result = check_response_headers(iter([[b"a", b"1"], (b"b", b"2")]))
    assert result.lines == (b"a: 1\r\n", b"b: 2\r\n")


@pytest.mark.parametrize("name", [b"x", b"X-Custom_1", b"!#$%&'*+-.^_`|~", b"0123"])
def test_token_names_accepted(name: bytes) -> None:
    """RFC 9110 section 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" /
    "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA."""
    assert check_response_headers([(name, b"v")]).lines == (name + b": v\r\n",)


@pytest.mark.parametrize(
    "value", [b"", b"a b", b"\tx\t", b"caf\xc3\xa9", b"\x80\xff", b'"quoted", (c)']
)
def test_values_with_htab_sp_vchar_and_obs_text_accepted(value: bytes) -> None:
    """RFC 9110 section 5.5: field-vchar = VCHAR / obs-text, with SP and HTAB inside."""
    assert check_response_headers([(b"x", value)]).lines == (b"x: " + value + b"\r\n",)


def test_bytes_subclass_accepted_as_plain_bytes() -> None:
    class Name(bytes):
        pass

    result = check_response_headers([(Name(b"x-a"), Name(b"1"))])
    assert result.lines == (b"x-a: 1\r\n",)
    assert all(type(name) is bytes for name in result.names)


@pytest.mark.parametrize(
    "pair",
    [
        (bytearray(b"x-a"), b"1"),
        (b"x-a", bytearray(b"1")),
        (memoryview(b"x-a"), b"1"),
        (b"x-a", memoryview(b"1")),
    ],
    ids=["bytearray-name", "bytearray-value", "memoryview-name", "memoryview-value"],
)
def test_bytearray_and_memoryview_rejected(pair: tuple[object, object]) -> None:
    """ASGI requires byte strings: a mutable buffer could change between check and write."""
    with pytest.raises(InvalidResponse, match="bytes"):
        check_response_headers([pair])


# -- check_response_headers: what fails -------------------------------------------


@pytest.mark.parametrize(
    "pair",
    [("x-a", b"1"), (b"x-a", "1"), ("x-a", "1"), (b"x-a", 1), (None, b"1")],
    ids=repr,
)
def test_non_bytes_names_and_values_rejected(pair: tuple[object, object]) -> None:
    with pytest.raises(InvalidResponse, match="bytes"):
        check_response_headers([pair])


@pytest.mark.parametrize("item", [(b"x",), (b"x", b"1", b"2"), b"x", None, 42], ids=repr)
def test_items_that_are_not_pairs_rejected(item: object) -> None:
    with pytest.raises(InvalidResponse):
        check_response_headers([item])


@pytest.mark.parametrize(
    "name",
    [
        b"",
        b"x a",
        b" x",
        b"x ",
        b"x:",
        b"x:y",
        b"x\ty",
        b"x\r\ny",
        b"x\x00",
        b"(x)",
        b"x/y",
        b'"x"',
        b"caf\xc3\xa9",
        b"\xff",
    ],
    ids=repr,
)
def test_non_token_names_rejected(name: bytes) -> None:
    """RFC 9110 section 5.1: field-name = token; a colon, space or non-ASCII octet would
    change where the name ends (or split the response)."""
    with pytest.raises(InvalidResponse, match="token"):
        check_response_headers([(name, b"v")])


@pytest.mark.parametrize(
    "value",
    [b"a\rb", b"a\nb", b"a\r\nb", b"a\x00b", b"\r\n", b"x\r\nSet-Cookie: evil=1", b"\n"],
    ids=repr,
)
def test_cr_lf_nul_in_values_rejected(value: bytes) -> None:
    """RFC 9110 section 5.5: CR, LF and NUL are never valid in a field value; sending them
    would let a value split the response (RFC 9112 section 11.1)."""
    with pytest.raises(InvalidResponse, match="CR, LF or NUL"):
        check_response_headers([(b"x", value)])


def test_the_first_bad_header_is_named() -> None:
    with pytest.raises(InvalidResponse, match="x-bad"):
        check_response_headers([(b"ok", b"1"), (b"x-bad", b"\n"), (b"y bad", b"1")])


# -- framing headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"0", 0), (b"12", 12), (b" 12 ", 12), (b"007", 7), (b"999999999999999999", 10**18 - 1)],
)
def test_content_length_parsed(value: bytes, expected: int) -> None:
    """RFC 9110 section 8.6: Content-Length = 1*DIGIT (surrounding whitespace is OWS)."""
    result = check_response_headers([(b"Content-Length", value)])
    assert result.content_length == expected
    # Framing writes the one content-length line itself (H1Response.head).
    assert result.lines == ()


@pytest.mark.parametrize(
    "value",
    [b"", b" ", b"abc", b"-1", b"+1", b"1.0", b"1e3", b"0x10", b"1,1", b"1 1", b"1" * 19],
    ids=repr,
)
def test_malformed_content_length_rejected(value: bytes) -> None:
    """RFC 9110 section 8.6: only decimal digits; a list such as "1,1" is not sent."""
    with pytest.raises(InvalidResponse, match="content-length"):
        check_response_headers([(b"content-length", value)])


def test_conflicting_content_lengths_rejected() -> None:
    """RFC 9110 section 8.6 / RFC 9112 section 6.3: differing lengths make the framing unknown."""
    with pytest.raises(InvalidResponse, match="content-length"):
        check_response_headers([(b"content-length", b"3"), (b"Content-Length", b"4")])


def test_repeated_equal_content_length_is_one() -> None:
    result = check_response_headers([(b"content-length", b"3"), (b"Content-Length", b"03")])
    assert result.content_length == 3
    assert result.lines == ()


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"3"), (b"transfer-encoding", b"chunked")],
        [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"3")],
    ],
)
def test_content_length_with_transfer_encoding_rejected(headers: list[tuple[bytes, bytes]]) -> None:
    """RFC 9112 section 6.2: a sender MUST NOT send Content-Length with Transfer-Encoding."""
    with pytest.raises(InvalidResponse, match="transfer-encoding"):
        check_response_headers(headers)


@pytest.mark.parametrize("value", [b"chunked", b"Chunked", b" CHUNKED "])
def test_chunked_transfer_encoding_is_consumed(value: bytes) -> None:
    """hurtle frames the body itself (RFC 9112 section 6.1), so the app's header only asks."""
    result = check_response_headers([(b"Transfer-Encoding", value), (b"x", b"1")])
    assert result.te_chunked
    assert result.lines == (b"x: 1\r\n",)
    assert b"transfer-encoding" not in result.names


@pytest.mark.parametrize(
    "value", [b"gzip", b"identity", b"gzip, chunked", b"chunked, gzip", b""], ids=repr
)
def test_non_chunked_transfer_encoding_rejected(value: bytes) -> None:
    """RFC 9112 section 6.1: only chunked is applied here; any other coding would have to
    be applied by hurtle, which it does not do."""
    with pytest.raises(InvalidResponse, match="transfer-encoding"):
        check_response_headers([(b"transfer-encoding", value)])


@pytest.mark.parametrize(
    ("value", "close"),
    [(b"close", True), (b"Close", True), (b"keep-alive, close", True), (b"keep-alive", False)],
)
def test_connection_is_consumed(value: bytes, close: bool) -> None:
    """RFC 9112 section 9.6: the server decides persistence and writes Connection itself."""
    result = check_response_headers([(b"Connection", value)])
    assert result.close is close
    assert result.lines == ()
    assert b"connection" not in result.names


# -- the cache of checked header lists ----------------------------------------------


def test_repeated_list_gives_the_same_result_without_rechecking() -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
    first = check_response_headers(headers)
    assert check_response_headers(list(headers)) is first
    assert first.content_length == 13 and first.lines == (b"content-type: text/plain\r\n",)


def test_cache_hit_still_refuses_buffers_equal_to_accepted_bytes() -> None:
    """memoryview(b"x") == b"x" and hashes alike: a cached list must not let it through."""
    check_response_headers([(b"x-a", b"1")])
    with pytest.raises(InvalidResponse, match="bytes"):
        check_response_headers([(memoryview(b"x-a"), b"1")])
    with pytest.raises(InvalidResponse, match="bytes"):
        check_response_headers([(b"x-a", memoryview(b"1"))])


def test_cache_hit_with_bytes_subclass_gives_plain_bytes() -> None:
    class Name(bytes):
        pass

    check_response_headers([(b"x-b", b"2")])
    result = check_response_headers([(Name(b"x-b"), Name(b"2"))])
    assert all(type(name) is bytes for name in result.names)
    assert all(type(line) is bytes for line in result.lines)


def test_cache_stays_bounded() -> None:
    from hurtle.wire import headers as module

    for number in range(module._CHECKED_MAX * 3):
        check_response_headers([(b"x-n", b"%d" % number)])
    assert len(module._CHECKED) <= module._CHECKED_MAX


def test_not_iterable_headers_refused() -> None:
    with pytest.raises(InvalidResponse, match="iterable"):
        check_response_headers(5)  # type: ignore[arg-type]


# -- trailer fields (RFC 9110 section 6.5.1) ------------------------------------------


def test_trailer_fields_are_checked_like_headers_and_keep_no_framing() -> None:
    from hurtle.wire.headers import check_trailers

    checked = check_trailers([(b"grpc-status", b"0"), (b"Grpc-Message", b"ok")])
    assert checked.pairs == ((b"grpc-status", b"0"), (b"grpc-message", b"ok"))
    assert checked.lines == (b"grpc-status: 0\r\n", b"Grpc-Message: ok\r\n")
    assert check_trailers([]).pairs == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"Content-Length", b"1"),
        (b"transfer-encoding", b"chunked"),
        (b"connection", b"keep-alive"),
        (b"trailer", b"x-ok"),
        (b"host", b"example.com"),
        (b"content-type", b"text/plain"),
        (b"te", b"trailers"),
    ],
)
def test_fields_that_must_not_be_trailers_are_refused(name: bytes, value: bytes) -> None:
    from hurtle.wire.headers import check_trailers

    with pytest.raises(InvalidResponse, match="not allowed in trailers"):
        check_trailers([(b"x-ok", b"1"), (name, value)])
