"""Status lines and response header validation (RFC 9110 section 5, RFC 9112 section 4).

Everything the app puts in a response passes through `check_response_headers`
before a byte reaches the wire: CR, LF and NUL in a field would let an app (or
an attacker who controls a value the app copies) split the response.
"""

from __future__ import annotations

import http
import re
from collections.abc import Iterable

from hurtle.wire.errors import InvalidResponse

__all__ = [
    "InvalidResponse",
    "ResponseHeaders",
    "check_final_status",
    "check_links",
    "check_response_headers",
    "check_status",
    "check_trailers",
    "status_line",
]


def _reason(code: int) -> bytes:
    try:
        return http.HTTPStatus(code).phrase.encode("ascii")
    except ValueError:
        return b""


# RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
_STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, _reason(code)) for code in range(100, 600)
}


def status_line(status: int) -> bytes:
    return _STATUS_LINES[status]


def check_status(status: object) -> int:
    # RFC 9110 section 15: a status code is a three-digit integer, 100 to 599.
    # An int subclass (http.HTTPStatus) is fine; bool is not a status.
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidResponse(f"status must be an int from 100 to 599, got {status!r}")
    return int(status)


def check_final_status(status: object) -> int:
    """A status that may end a response: 200 to 599 (RFC 9110 section 15).

    A 1xx is interim, never the response (RFC 9110 section 15.2), and MUST
    NOT go to an HTTP/1.0 client; the interim responses hurtle sends are its
    own (100 Continue), not the app's `http.response.start`.
    """
    checked = check_status(status)
    if checked < 200:
        raise InvalidResponse(f"status {checked} is informational, not a final response")
    return checked


# RFC 9110 section 5.1: field-name = token; section 5.6.2 lists the tchars.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 section 5.5: field values never contain CR, LF or NUL.
_FORBIDDEN_IN_VALUE = re.compile(rb"[\x00\r\n]")
_DIGITS = re.compile(rb"[0-9]{1,18}")


class ResponseHeaders:
    """The app's headers, checked, with what framing needs to know of them.

    Immutable: one instance may serve every response that repeats a header list.
    """

    __slots__ = ("close", "content_length", "lines", "names", "pairs", "te_chunked")

    def __init__(
        self,
        lines: tuple[bytes, ...],
        pairs: tuple[tuple[bytes, bytes], ...],
        names: frozenset[bytes],
        content_length: int | None,
        te_chunked: bool,
        close: bool,
    ) -> None:
        # The same fields twice, serialised for each protocol: HTTP/1.1 field
        # lines, and (lower-case name, value) pairs, which HTTP/2's HPACK takes
        # (RFC 9113 section 8.2.1: names are lower case). Neither holds the
        # framing headers (Content-Length, Transfer-Encoding, Connection).
        self.lines = lines
        self.pairs = pairs
        self.names = names
        self.content_length = content_length
        self.te_chunked = te_chunked
        self.close = close


# Header lists already checked, by value. Apps and frameworks send the same few
# lists again and again (a constant list, or content-type plus one of a few
# content-lengths), and checking one costs regex matches and formatting per
# header; a lookup costs a hash. Cleared when full, so it stays small whatever
# the app sends.
_CHECKED: dict[tuple[object, ...], ResponseHeaders] = {}
_CHECKED_MAX = 512


def check_response_headers(headers: Iterable[object]) -> ResponseHeaders:
    """Validate the app's header list and extract the framing headers.

    Raises InvalidResponse naming the first bad header. Transfer-Encoding and
    Connection are consumed here: framing decides them (RFC 9112 sections 6
    and 9.6), so they are not copied to `lines`.
    """
    try:
        key = tuple(headers)
    except TypeError:
        raise InvalidResponse(f"headers must be an iterable of pairs, got {headers!r}") from None
    try:
        checked = _CHECKED.get(key)
    except TypeError:  # Unhashable: [name, value] lists, bytearrays. Checked every time.
        return _check(key)
    if checked is not None:
        # Equal is not enough: memoryview(b"x") == b"x", and only bytes are accepted.
        for pair in key:  # A hit is a tuple of 2-tuples: it equals a list that passed.
            if type(pair[0]) is not bytes or type(pair[1]) is not bytes:  # type: ignore[index]
                return _check(key)
        return checked
    checked = _check(key)
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    _CHECKED[key] = checked
    return checked


def _check(headers: tuple[object, ...]) -> ResponseHeaders:
    lines: list[bytes] = []
    pairs: list[tuple[bytes, bytes]] = []
    names: set[bytes] = set()
    content_length: int | None = None
    te_chunked = False
    close = False
    for item in headers:
        name: object
        value: object
        try:
            name, value = item  # type: ignore[misc]
        except (TypeError, ValueError):
            raise InvalidResponse(f"header must be a [name, value] pair, got {item!r}") from None
        if type(name) is not bytes or type(value) is not bytes:
            if not isinstance(name, bytes) or not isinstance(value, bytes):
                raise InvalidResponse(f"header name and value must be bytes, got {item!r}")
            name, value = bytes(name), bytes(value)
        assert isinstance(name, bytes) and isinstance(value, bytes)
        if _TOKEN.fullmatch(name) is None:
            raise InvalidResponse(f"header name {name!r} is not a valid HTTP token")
        if _FORBIDDEN_IN_VALUE.search(value) is not None:
            raise InvalidResponse(f"header {name!r} has CR, LF or NUL in its value {value!r}")
        lower = name.lower()
        if lower == b"content-length":
            value = value.strip()
            if _DIGITS.fullmatch(value) is None:
                raise InvalidResponse(f"content-length {value!r} is not a decimal number")
            length = int(value)
            if content_length is not None and content_length != length:
                raise InvalidResponse("two different content-length headers")
            # Framing writes the one content-length line (H1Response.head), so
            # it is not copied to `lines`: a second copy would be a duplicate.
            content_length = length
            continue
        elif lower == b"transfer-encoding":
            if value.strip().lower() != b"chunked":
                raise InvalidResponse(
                    f"transfer-encoding {value!r} is not supported; hurtle frames the body itself"
                )
            te_chunked = True
            continue
        elif lower == b"connection":
            if b"close" in value.lower():
                close = True
            continue
        names.add(lower)
        lines.append(b"%s: %s\r\n" % (name, value))
        pairs.append((lower, value))
    if te_chunked and content_length is not None:
        # RFC 9112 section 6.3: a sender must not send both.
        raise InvalidResponse("content-length together with transfer-encoding")
    return ResponseHeaders(
        tuple(lines), tuple(pairs), frozenset(names), content_length, te_chunked, close
    )


# Fields a sender must not put in trailers (RFC 9110 section 6.5.1): framing
# and connection handling (RFC 9112 sections 6 and 9.6, RFC 9113 section
# 8.2.2), routing, request modifiers, authentication, response control data
# and what decides how the content is processed. A recipient would either
# ignore them or, worse, act on a value that arrived after the content.
_NOT_IN_TRAILERS = frozenset(
    [
        # framing and the connection
        b"content-length",
        b"transfer-encoding",
        b"trailer",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"upgrade",
        b"te",
        # routing and request modifiers
        b"host",
        b"expect",
        b"max-forwards",
        b"range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
        # authentication
        b"authorization",
        b"proxy-authorization",
        b"www-authenticate",
        b"proxy-authenticate",
        b"authentication-info",
        b"proxy-authentication-info",
        b"set-cookie",
        # response control data (RFC 9110 section 10.2, RFC 9111)
        b"age",
        b"cache-control",
        b"expires",
        b"date",
        b"location",
        b"retry-after",
        b"vary",
        # how to process the content
        b"content-type",
        b"content-encoding",
        b"content-range",
    ]
)


def check_trailers(fields: Iterable[object]) -> ResponseHeaders:
    """Validate the app's trailer fields (asgiref docs/extensions.rst, "HTTP Trailers").

    Each field is checked as a response header is (token names, no CR, LF
    or NUL in values; pseudo-header names are not tokens), and a field that
    RFC 9110 section 6.5.1 keeps out of trailers raises InvalidResponse
    naming it. The result carries no framing.
    """
    try:
        items = tuple(fields)
    except TypeError:
        raise InvalidResponse(f"trailers must be an iterable of pairs, got {fields!r}") from None
    checked = _check(items)
    for item in items:
        name = bytes(item[0]).lower()  # type: ignore[index]  # _check saw a pair of bytes.
        if name in _NOT_IN_TRAILERS:
            raise InvalidResponse(
                f"{name.decode('ascii')!r} is not allowed in trailers (RFC 9110 section 6.5.1)"
            )
    return checked


def check_links(links: object) -> ResponseHeaders:
    """The Link fields of an early hint (asgiref extensions.rst; RFC 8297), checked.

    `links` is a list of Link field values (bytes), each checked like any
    header value (RFC 9110 section 5.5).
    """
    if isinstance(links, bytes | bytearray | str) or not isinstance(links, Iterable):
        raise InvalidResponse(f"links must be a list of bytes, got {links!r}")
    values = tuple(links)
    for value in values:
        if not isinstance(value, bytes):
            raise InvalidResponse(f"each link must be bytes, got {value!r}")
    return check_response_headers([(b"link", value) for value in values])
