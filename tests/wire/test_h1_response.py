"""H1Response: response metadata and body pieces in, framed bytes out.

Each response is checked as the request cycle checks it (`make_response`), then
framed. The calls mirror what the connection does: `head(first, more, version, defaults)`
together with `body(first, more)` for the first piece, then `body()` for each
further piece.
"""

from __future__ import annotations

import pytest

from hurtle.wire.h1 import H1Response, early_hints
from hurtle.wire.headers import (
    InvalidResponse,
    check_final_status,
    check_links,
    check_response_headers,
)

Headers = list[tuple[bytes, bytes]]
Piece = tuple[bytes, bool]

TEXT: Headers = [(b"content-type", b"text/plain")]


def make_response(
    status: object, headers: list[object] | Headers, method: str, keep_alive: bool
) -> H1Response:
    """An H1Response for what the app sent, checked first as the request cycle checks it
    (asgi/http_core.py): the framing layer takes only a final status and checked headers."""
    return H1Response(
        check_final_status(status), check_response_headers(headers), method, keep_alive
    )


def send(
    response: H1Response, pieces: list[Piece], version: str = "1.1", defaults: bytes = b""
) -> tuple[bytes, list[bytes]]:
    """Return the head and what each body piece wrote."""
    first, more = pieces[0]
    head = response.head(first, more, version, defaults)
    return head, [response.body(data, more_body) for data, more_body in pieces]


def respond(
    status: int,
    headers: Headers,
    pieces: list[Piece],
    *,
    method: str = "GET",
    version: str = "1.1",
    keep_alive: bool = True,
    defaults: bytes = b"",
) -> tuple[H1Response, bytes, bytes]:
    """Frame a whole response; return it with its head and its body bytes."""
    response = make_response(status, headers, method, keep_alive)
    head, written = send(response, pieces, version, defaults)
    return response, head, b"".join(written)


def header_lines(head: bytes) -> list[bytes]:
    """The header field lines of a head, lower-cased, without the status line."""
    assert head.endswith(b"\r\n\r\n")
    assert head.count(b"\r\n\r\n") == 1
    return [line.lower() for line in head[:-4].split(b"\r\n")[1:]]


def names(head: bytes) -> list[bytes]:
    return [line.split(b":", 1)[0] for line in header_lines(head)]


# -- Content-Length from a body in one message ---------------------------------------


def test_whole_body_in_one_message_gets_content_length() -> None:
    """RFC 9110 section 8.6: the body is known, so its length is sent; one write, persistent."""
    response, head, body = respond(200, TEXT, [(b"hello", False)])
    assert head == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n")
    assert body == b"hello"
    assert response.keep_alive
    assert response.ended
    assert response.mismatch is None
    assert response.body_bytes_written == 5
    assert response.status == 200


def test_empty_body_gets_content_length_zero() -> None:
    response, head, body = respond(200, [], [(b"", False)])
    assert head == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    assert body == b""
    assert response.keep_alive


def test_content_length_on_http_1_0_keeps_alive_when_asked() -> None:
    """RFC 9112 appendix C.2.2: an HTTP/1.0 client that sent keep-alive gets it back."""
    response, head, body = respond(200, [], [(b"hi", False)], version="1.0")
    assert head == (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n")
    assert body == b"hi"
    assert response.keep_alive


# -- chunked coding for streamed bodies ------------------------------------------------


def test_streamed_body_on_1_1_is_chunked() -> None:
    """RFC 9112 section 7.1: chunk = chunk-size CRLF chunk-data CRLF, ended by last-chunk
    "0" CRLF and an empty trailer section (CRLF); an empty piece writes nothing, since
    a zero-size chunk would end the body early."""
    response = make_response(200, TEXT, "GET", keep_alive=True)
    head, written = send(
        response, [(b"hel", True), (b"", True), (b"lo", True), (b"", True), (b"", False)]
    )
    assert head == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    assert written == [b"3\r\nhel\r\n", b"", b"2\r\nlo\r\n", b"", b"0\r\n\r\n"]
    assert response.keep_alive
    assert response.body_bytes_written == 5
    assert response.mismatch is None


def test_last_piece_with_data_carries_the_last_chunk() -> None:
    response = make_response(200, [], "GET", keep_alive=True)
    _, written = send(response, [(b"a", True), (b"bc", False)])
    assert written == [b"1\r\na\r\n", b"2\r\nbc\r\n0\r\n\r\n"]
    assert response.ended


@pytest.mark.parametrize(("size", "size_line"), [(10, b"a"), (255, b"ff"), (4096, b"1000")])
def test_chunk_size_is_hexadecimal(size: int, size_line: bytes) -> None:
    """RFC 9112 section 7.1: chunk-size = 1*HEXDIG."""
    response = make_response(200, [], "GET", keep_alive=True)
    _, written = send(response, [(b"x" * size, True), (b"", False)])
    assert written == [size_line + b"\r\n" + b"x" * size + b"\r\n", b"0\r\n\r\n"]


def test_streamed_body_on_1_0_is_close_delimited() -> None:
    """RFC 9112 section 6.1: no Transfer-Encoding to an HTTP/1.0 client; section 6.3 rule 8:
    the body then ends when the connection closes, so the connection cannot persist."""
    response = make_response(200, TEXT, "GET", keep_alive=True)
    head, written = send(response, [(b"hel", True), (b"", True), (b"lo", False)], version="1.0")
    assert head == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n")
    assert written == [b"hel", b"", b"lo"]
    assert not response.keep_alive


# -- Connection ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_connection_close_when_not_keeping_alive(version: str) -> None:
    """RFC 9112 section 9.6: a server that will close says so with `Connection: close`."""
    response, head, _ = respond(200, [], [(b"x", False)], version=version, keep_alive=False)
    assert header_lines(head) == [b"content-length: 1", b"connection: close"]
    assert not response.keep_alive


def test_no_connection_header_for_persistent_1_1() -> None:
    """RFC 9112 section 9.3: persistence is the default in HTTP/1.1."""
    _, head, _ = respond(200, [], [(b"x", False)])
    assert b"connection" not in names(head)


@pytest.mark.parametrize("value", [b"close", b"Close", b"keep-alive, close"])
def test_app_connection_close_closes(value: bytes) -> None:
    """The app asked to close (RFC 9112 section 9.6): one `connection: close`, the app's own
    line is not copied next to it."""
    response, head, _ = respond(200, [(b"Connection", value)], [(b"x", False)])
    assert not response.keep_alive
    assert header_lines(head) == [b"content-length: 1", b"connection: close"]


def test_app_connection_keep_alive_cannot_override_close() -> None:
    response, head, _ = respond(
        200, [(b"connection", b"keep-alive")], [(b"x", False)], keep_alive=False
    )
    assert not response.keep_alive
    assert header_lines(head) == [b"content-length: 1", b"connection: close"]


# -- the app's Content-Length ----------------------------------------------------------


def test_app_content_length_respected_for_a_streamed_body() -> None:
    """RFC 9112 section 6.3 rule 6: with a Content-Length the body is sent as is, unchunked."""
    response = make_response(200, [(b"Content-Length", b"5")], "GET", keep_alive=True)
    head, written = send(response, [(b"he", True), (b"", True), (b"llo", True), (b"", False)])
    assert header_lines(head) == [b"content-length: 5"]
    assert written == [b"he", b"", b"llo", b""]
    assert response.keep_alive
    assert response.mismatch is None
    assert response.body_bytes_written == 5


def test_app_content_length_wins_over_the_one_message_length() -> None:
    """Exactly one content-length line, the app's."""
    _, head, body = respond(200, [(b"content-length", b"3")], [(b"abc", False)])
    assert header_lines(head) == [b"content-length: 3"]
    assert body == b"abc"


def test_body_longer_than_content_length_is_truncated() -> None:
    """RFC 9110 section 8.6: never send more than was declared; the extra bytes would be
    read as the next response. The connection cannot be trusted afterwards."""
    response = make_response(200, [(b"content-length", b"3")], "GET", keep_alive=True)
    head, written = send(response, [(b"hello", False)])
    assert header_lines(head) == [b"content-length: 3"]
    assert written == [b"hel"]
    assert response.mismatch is not None and "longer" in response.mismatch
    assert not response.keep_alive
    assert response.body_bytes_written == 3


def test_streamed_body_longer_than_content_length_is_truncated() -> None:
    response = make_response(200, [(b"content-length", b"3")], "GET", keep_alive=True)
    _, written = send(response, [(b"ab", True)])
    assert response.mismatch is None
    assert response.keep_alive
    assert response.body(b"cd", True) == b"c"
    assert response.mismatch is not None and "longer" in response.mismatch
    assert not response.keep_alive
    assert response.body(b"ef", False) == b""
    assert written == [b"ab"]
    assert response.body_bytes_written == 3


def test_body_shorter_than_content_length_detected_at_the_end() -> None:
    """RFC 9110 section 8.6: the client would wait for the missing bytes; only the end of
    the body can tell, and then the connection must close."""
    response = make_response(200, [(b"content-length", b"5")], "GET", keep_alive=True)
    _, written = send(response, [(b"ab", True), (b"c", True)])
    assert response.mismatch is None
    assert response.keep_alive
    assert response.body(b"", False) == b""
    assert response.mismatch is not None and "shorter" in response.mismatch
    assert not response.keep_alive
    assert written == [b"ab", b"c"]


def test_short_body_in_one_message() -> None:
    response, _, body = respond(200, [(b"content-length", b"5")], [(b"abc", False)])
    assert body == b"abc"
    assert response.mismatch is not None and "shorter" in response.mismatch
    assert not response.keep_alive


# -- responses without a body ------------------------------------------------------------


def test_head_keeps_the_app_content_length_but_sends_no_body() -> None:
    """RFC 9110 section 9.3.2: HEAD gets the GET headers and no content; section 8.6 allows
    the Content-Length the GET would have had."""
    response, head, body = respond(
        200, [(b"content-length", b"5")], [(b"hello", False)], method="HEAD"
    )
    assert header_lines(head) == [b"content-length: 5"]
    assert body == b""
    assert response.keep_alive
    assert response.mismatch is None


def test_head_without_content_length_says_nothing_of_length() -> None:
    """The one-message body of a HEAD response is dropped, so its length is not claimed."""
    response, head, body = respond(200, TEXT, [(b"hello", False)], method="HEAD")
    assert header_lines(head) == [b"content-type: text/plain"]
    assert body == b""
    assert response.keep_alive


def test_streamed_head_response_is_not_chunked() -> None:
    """No body, so no chunked coding either: the last-chunk would be read as the next response."""
    response = make_response(200, [], "HEAD", keep_alive=True)
    head, written = send(response, [(b"abc", True), (b"def", False)])
    assert header_lines(head) == []
    assert written == [b"", b""]
    assert response.keep_alive


@pytest.mark.parametrize(
    "headers", [[], [(b"content-length", b"5")], [(b"transfer-encoding", b"chunked")]]
)
@pytest.mark.parametrize("pieces", [[(b"hello", False)], [(b"hel", True), (b"lo", False)]])
@pytest.mark.parametrize("version", ["1.1", "1.0"])
def test_204_never_gets_content_length_or_body(
    headers: Headers, pieces: list[Piece], version: str
) -> None:
    """RFC 9110 section 8.6: a server MUST NOT send Content-Length in a 204 response; RFC
    9112 section 6.1: nor Transfer-Encoding; section 15.3.5: a 204 has no content."""
    response = make_response(204, headers, "GET", keep_alive=True)
    head, written = send(response, pieces, version)
    assert [name for name in names(head) if name != b"connection"] == []
    assert b"".join(written) == b""
    assert response.mismatch is None


@pytest.mark.parametrize("status", [100, 101, 103, 199])
def test_1xx_is_not_a_final_response(status: int) -> None:
    """RFC 9110 section 15.2: a 1xx response is interim, and a server MUST NOT send one to
    an HTTP/1.0 client. An app's http.response.start with a 1xx would be the final
    response; it is refused (the client gets a 500 instead). The one interim response
    hurtle sends is its own 100 Continue, never to 1.0 (test_expect_continue)."""
    with pytest.raises(InvalidResponse, match="informational"):
        make_response(status, [], "GET", keep_alive=True)


@pytest.mark.parametrize("status", [200, 204, 299])
@pytest.mark.parametrize(
    "headers", [[], [(b"content-length", b"5")], [(b"transfer-encoding", b"chunked")]]
)
@pytest.mark.parametrize("pieces", [[(b"hello", False)], [(b"hel", True), (b"lo", False)]])
def test_2xx_to_connect_has_no_framing_and_closes(
    status: int, headers: Headers, pieces: list[Piece]
) -> None:
    """RFC 9110 section 8.6 and RFC 9112 section 6.1: a server MUST NOT send Content-Length
    or Transfer-Encoding in a 2xx response to CONNECT (section 9.3.6: the connection is a
    tunnel after its head). hurtle relays no tunnel: what the app sends goes out as is,
    then the connection closes."""
    response, head, body = respond(status, headers, pieces, method="CONNECT")
    assert b"content-length" not in names(head)
    assert b"transfer-encoding" not in names(head)
    assert body == (b"" if status == 204 else b"hello")
    assert not response.keep_alive


def test_non_2xx_to_connect_is_framed_as_usual() -> None:
    """A refused CONNECT is an ordinary response (RFC 9110 section 9.3.6)."""
    response, head, body = respond(405, [], [(b"no", False)], method="CONNECT")
    assert response.keep_alive
    assert b"content-length: 2" in header_lines(head)
    assert body == b"no"


@pytest.mark.parametrize("pieces", [[(b"hello", False)], [(b"hel", True), (b"lo", False)]])
def test_304_has_no_body(pieces: list[Piece]) -> None:
    """RFC 9110 section 15.4.5: a 304 response has no content."""
    response = make_response(304, [(b"etag", b'"x"')], "GET", keep_alive=True)
    head, written = send(response, pieces)
    assert header_lines(head) == [b'etag: "x"']
    assert b"".join(written) == b""
    assert response.keep_alive


def test_304_keeps_the_app_content_length() -> None:
    """RFC 9110 section 8.6: a 304 may carry the length the 200 would have had."""
    _, head, body = respond(304, [(b"content-length", b"42")], [(b"", False)])
    assert header_lines(head) == [b"content-length: 42"]
    assert body == b""


# -- the app's Transfer-Encoding ----------------------------------------------------------


@pytest.mark.parametrize("pieces", [[(b"hello", False)], [(b"hel", True), (b"lo", False)]])
def test_app_transfer_encoding_chunked_asks_for_chunking(pieces: list[Piece]) -> None:
    """RFC 9112 section 7.1: hurtle applies the chunked coding the app asked for (once)."""
    response = make_response(200, [(b"Transfer-Encoding", b"chunked")], "GET", keep_alive=True)
    head, written = send(response, pieces)
    assert header_lines(head) == [b"transfer-encoding: chunked"]
    assert written[-1].endswith(b"0\r\n\r\n")
    assert b"".join(written) in (b"5\r\nhello\r\n0\r\n\r\n", b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n")


def test_app_transfer_encoding_chunked_on_1_0() -> None:
    """RFC 9112 section 6.1: never chunked to an HTTP/1.0 client; a known body gets a length."""
    response, head, body = respond(
        200, [(b"transfer-encoding", b"chunked")], [(b"hello", False)], version="1.0"
    )
    assert header_lines(head) == [b"content-length: 5", b"connection: keep-alive"]
    assert body == b"hello"
    assert response.keep_alive


# -- the head -------------------------------------------------------------------------------


def test_defaults_block_follows_the_status_line() -> None:
    """The server's default fields (server, date) come right after the status line, then the
    app's fields in the app's order, then the framing hurtle decides."""
    defaults = b"server: hurtle\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
    _, head, _ = respond(
        404,
        [(b"X-B", b"2"), (b"x-a", b"1")],
        [(b"nope", False)],
        keep_alive=False,
        defaults=defaults,
    )
    assert head == (
        b"HTTP/1.1 404 Not Found\r\n"
        + defaults
        + b"X-B: 2\r\nx-a: 1\r\ncontent-length: 4\r\nconnection: close\r\n\r\n"
    )


def test_unknown_status_gets_a_valid_status_line() -> None:
    _, head, _ = respond(299, [], [(b"", False)])
    assert head.startswith(b"HTTP/1.1 299 \r\n")


def test_header_names_for_filtering_defaults() -> None:
    response = make_response(200, [(b"Server", b"app"), (b"Date", b"x")], "GET", keep_alive=True)
    assert {b"server", b"date"} <= response.header_names


# -- misuse ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("headers", [[], [(b"content-length", b"1")]])
def test_body_after_the_end_raises(method: str, headers: Headers) -> None:
    response = make_response(200, headers, method, keep_alive=True)
    send(response, [(b"x", False)])
    assert response.ended
    with pytest.raises(InvalidResponse, match="after the response was complete"):
        response.body(b"more", False)
    with pytest.raises(InvalidResponse):
        response.body(b"", True)


def test_body_after_the_end_of_a_chunked_body_raises() -> None:
    response = make_response(200, [], "GET", keep_alive=True)
    send(response, [(b"x", True), (b"", False)])
    with pytest.raises(InvalidResponse):
        response.body(b"y", False)


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200", []),
        (True, []),
        (600, []),
        (200, [(b"x", b"a\r\nb")]),
        (200, [("x", "1")]),
        (200, [(b"content-length", b"1"), (b"transfer-encoding", b"chunked")]),
    ],
    ids=["str-status", "bool-status", "600", "crlf-value", "str-header", "cl-and-te"],
)
def test_invalid_start_raises(status: object, headers: list[object]) -> None:
    """Nothing the app got wrong reaches the wire: the response is refused at the start."""
    with pytest.raises(InvalidResponse):
        make_response(status, headers, "GET", keep_alive=True)


# -- trailers (RFC 9112 section 7.1.2) ------------------------------------------------


def trailer_lines(fields: Headers) -> tuple[bytes, ...]:
    from hurtle.wire.headers import check_trailers

    return check_trailers(fields).lines


def test_trailers_end_a_chunked_body_with_a_trailer_section() -> None:
    response = make_response(200, TEXT, "GET", True)
    # The cycle sends the last body with more to come when trailers follow.
    head, written = send(response, [(b"hello", True)])
    assert b"transfer-encoding: chunked\r\n" in head
    assert written == [b"5\r\nhello\r\n"]
    end = response.trailers(trailer_lines([(b"grpc-status", b"0"), (b"X-Sum", b"ab")]))
    assert end == b"0\r\ngrpc-status: 0\r\nX-Sum: ab\r\n\r\n"
    assert response.ended and response.keep_alive


def test_no_trailer_lines_give_the_plain_last_chunk() -> None:
    response = make_response(200, TEXT, "GET", True)
    send(response, [(b"x", True)])
    assert response.trailers(()) == b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("headers", "method", "status", "version", "first"),
    [
        ([*TEXT, (b"content-length", b"5")], "GET", 200, "1.1", b"hello"),  # length-delimited
        (TEXT, "HEAD", 200, "1.1", b""),  # no body
        (TEXT, "GET", 204, "1.1", b""),
        (TEXT, "GET", 304, "1.1", b""),
        (TEXT, "GET", 200, "1.0", b"hello"),  # delimited by the close
    ],
)
def test_trailers_are_dropped_where_the_framing_cannot_carry_them(
    headers: Headers, method: str, status: int, version: str, first: bytes
) -> None:
    response = make_response(status, headers, method, True)
    head, _ = send(response, [(first, True)], version)
    assert b"transfer-encoding" not in head
    assert response.trailers(trailer_lines([(b"x-late", b"1")])) == b""
    assert response.ended and response.mismatch is None


def test_trailers_after_a_body_shorter_than_its_content_length_are_a_mismatch() -> None:
    response = make_response(200, [(b"content-length", b"5")], "GET", True)
    send(response, [(b"hel", True)])
    assert response.trailers(()) == b""
    assert response.mismatch is not None and "shorter" in response.mismatch
    assert not response.keep_alive


def test_early_hints_are_one_103_with_a_link_line_per_link() -> None:
    """RFC 8297 section 2: a 103 interim response whose Link fields the client may use."""
    links = check_links([b"</a.css>; rel=preload; as=style", b"</b.js>; rel=preload"])
    assert early_hints(links) == (
        b"HTTP/1.1 103 Early Hints\r\n"
        b"link: </a.css>; rel=preload; as=style\r\n"
        b"link: </b.js>; rel=preload\r\n"
        b"\r\n"
    )


@pytest.mark.parametrize(
    "links",
    [None, b"</a>", "</a>", [b"</a>\r\nx: 1"], [b"</a>\x00"], ["</a>"], 7],
)
def test_links_are_checked_like_header_values(links: object) -> None:
    """RFC 9110 section 5.5: no CR, LF or NUL; the extension wants a list of bytes."""
    with pytest.raises(InvalidResponse):
        check_links(links)
