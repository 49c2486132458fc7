"""HTTP/1.1 without I/O: bytes in, events out; response metadata in, bytes out.

Theory of operation
-------------------
`H1Parser.feed(data)` runs llhttp (through httptools) over the bytes and
returns the events they complete, in order:

    RequestReceived  the request line and headers of one request
    BodyReceived     a piece of its body (chunked coding already removed)
    REQUEST_ENDED    the end of that request's body
    RequestRejected  the bytes are not acceptable HTTP; answer `status`, close

Several requests may come out of one `feed` (pipelining, RFC 9112 section
9.3.2); the caller answers them in order. After a RequestRejected or an
upgrade the parser stops: nothing after that point is read as HTTP, so bytes
the parser did not understand are never taken for a second request.

`H1Response` frames one response: it decides between Content-Length, chunked
coding (RFC 9112 section 7.1) and a close-delimited body, suppresses the body
where none is allowed (HEAD, 1xx, 204, 304: RFC 9110 section 6.4.1), and
notices a body that does not match the declared Content-Length.

Nothing here imports asyncio, socket, ssl or time (a test enforces it).
"""

from __future__ import annotations

import re

import httptools

from hurtle.wire.errors import LastMessage, RequestRefused
from hurtle.wire.headers import (
    InvalidResponse,
    ResponseHeaders,
    status_line,
)

__all__ = [
    "REQUEST_ENDED",
    "BodyReceived",
    "Event",
    "H1Limits",
    "H1Parser",
    "H1Response",
    "RequestEnded",
    "RequestReceived",
    "RequestRejected",
    "early_hints",
]


class RequestReceived:
    """The head of a request: request line and header fields."""

    __slots__ = (
        "expect_continue",
        "headers",
        "http_version",
        "keep_alive",
        "method",
        "target",
        "upgrade",
    )

    def __init__(
        self,
        method: str,
        target: bytes,
        http_version: str,
        headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        expect_continue: bool,
        upgrade: bytes | None,
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.upgrade = upgrade

    def __repr__(self) -> str:
        return f"RequestReceived({self.method} {self.target!r} HTTP/{self.http_version})"


class BodyReceived:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"BodyReceived({self.data!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BodyReceived) and other.data == self.data

    __hash__ = None  # type: ignore[assignment]


class RequestEnded:
    __slots__ = ()

    def __repr__(self) -> str:
        return "REQUEST_ENDED"


REQUEST_ENDED = RequestEnded()


class RequestRejected:
    """Not acceptable HTTP: answer `status` with `reason` as the body, then close."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"RequestRejected({self.status}, {self.reason!r})"


Event = RequestReceived | BodyReceived | RequestEnded | RequestRejected


class H1Limits:
    """Bounds on what one request may make the parser hold or read (docs/security.md)."""

    __slots__ = (
        "max_body",
        "max_chunk_header",
        "max_header_bytes",
        "max_headers",
        "max_request_line",
    )

    def __init__(
        self,
        max_request_line: int = 8192,
        max_headers: int = 100,
        max_header_bytes: int = 16384,
        max_body: int | None = None,
        max_chunk_header: int = 4096,
    ) -> None:
        self.max_request_line = max_request_line
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes
        self.max_body = max_body
        self.max_chunk_header = max_chunk_header


class _Section:
    """A part of the stream that llhttp reads without a bound of its own."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


_HEAD = _Section(431, "Request header fields too large")
_CHUNK_HEADER = _Section(400, "Malformed request: chunk extensions too long")
_TRAILERS = _Section(431, "Request trailer fields too large")
_OWS = b" \t"
_FRAMING_FIELDS = frozenset(
    [b"host", b"content-length", b"transfer-encoding", b"expect", b"upgrade"]
)
# RFC 9110 section 7.2: Host = uri-host [ ":" port ], uri-host from RFC 3986
# section 3.2.2: an IP-literal in brackets (IPv6 or IPvFuture), or a reg-name
# of unreserved, pct-encoded and sub-delims characters (IPv4 is a reg-name
# here). Empty is valid: a target URI without an authority (RFC 9112 section 3.2).
_HOST = re.compile(
    rb"(?:\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[-A-Za-z0-9._~!$&'()*+,;=:]+)\]"
    rb"|(?:[-A-Za-z0-9._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"
    rb"(?::[0-9]*)?"
)


class H1Parser:
    """Turns a byte stream from a client into request events (see module docstring)."""

    __slots__ = (
        "_body_size",
        "_body_total",
        "_chunked",
        "_content_length",
        "_epoch",
        "_events",
        "_expect_continue",
        "_header_bytes",
        "_headers",
        "_hosts",
        "_last_message",
        "_limits",
        "_max_body",
        "_max_head",
        "_max_header_bytes",
        "_max_headers",
        "_max_request_line",
        "_max_trailer",
        "_metered",
        "_parser",
        "_section",
        "_section_cap",
        "_te_final_chunked",
        "_te_unknown",
        "_upgrade",
        "_upgrade_body",
        "_url",
        "_valid_host",
        "stopped",
        "upgrade_data",
        "upgraded",
    )

    def __init__(self, limits: H1Limits | None = None) -> None:
        self._limits = limits or H1Limits()
        # A hard cap on the bytes of one request head, checked per feed: llhttp
        # buffers a header field until it is complete, so without it a single
        # endless header line would grow memory before any callback could say no.
        self._max_head = self._limits.max_request_line + self._limits.max_header_bytes + 8192
        self._parser = httptools.HttpRequestParser(self)
        self._events: list[Event] = []
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._max_trailer = self._limits.max_header_bytes + 8192
        # The limits again as plain attributes: the callbacks read them per header.
        self._max_request_line = self._limits.max_request_line
        self._max_headers = self._limits.max_headers
        self._max_header_bytes = self._limits.max_header_bytes
        self._max_body = self._limits.max_body
        # What the header fields say about framing, noted as they arrive.
        self._hosts = 0
        self._content_length = -1
        self._expect_continue = False
        self._upgrade: bytes | None = None
        # The framing of the body of an upgrade request hurtle serves as it
        # is (see on_headers_complete), until llhttp hands it over.
        self._upgrade_body: bytes | None = None
        self._chunked = False
        self._te_final_chunked = False
        self._te_unknown = False
        # The last Host value found valid: a connection sends the same one
        # again and again, and an equality test is cheaper than the regex.
        self._valid_host = b"\x00"
        self._last_message = False
        self._body_size = 0  # Body bytes of the current request.
        self._body_total = 0  # Body bytes ever parsed: what a feed held besides framing.
        # The metered section (see _enter): the part of the stream that is not
        # body and that llhttp reads without limit of its own.
        self._section: _Section | None = None
        self._section_cap = 0
        self._metered = 0
        self._epoch = 0
        self.stopped = False
        self.upgraded = False
        self.upgrade_data = b""

    def feed(self, data: bytes) -> list[Event]:
        """Parse `data`; return the events it completes (see module docstring)."""
        if self.stopped:
            return []
        section = self._section
        epoch = self._epoch
        body_before = self._body_total
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            rest = bytes(data[exc.args[0] :]) if exc.args else b""
            if self._upgrade_body is not None:
                self._read_upgrade_body(rest)
            else:
                # RFC 9110 section 7.8: after an accepted upgrade (or CONNECT)
                # the bytes that follow belong to another protocol.
                self.stopped = self.upgraded = True
                self.upgrade_data = rest
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, RequestRefused):
                self._reject(cause.status, cause.reason)
            elif isinstance(cause, LastMessage):
                self.stopped = True  # The message's events are out; nothing after it is.
            else:  # pragma: no cover - a bug in a callback below
                raise
        except httptools.HttpParserError as exc:
            self._reject(400, _describe(exc))
        else:
            if section is not None and self._epoch == epoch:
                # The whole feed fell in one metered section (a section that
                # begins or ends in a feed is not counted for it): bounded
                # under-count, never an over-count, so a long pipeline in one
                # read is never refused, and memory stays within cap + one read.
                self._metered += len(data) - (self._body_total - body_before)
                if self._metered > self._section_cap:
                    self._reject(section.status, section.reason)
        events = self._events
        self._events = []
        return events

    def _read_upgrade_body(self, rest: bytes) -> None:
        """Go on reading the body of an upgrade request that is served as it is.

        llhttp takes every bytes after an Upgrade request's head for the new
        protocol's; a second llhttp parser, told the body's framing by a head
        of its own, reads the body that is there instead. The connection
        closes after the response (`upgraded`): what follows the body is
        never read.
        """
        framing = self._upgrade_body
        assert framing is not None
        self._upgrade_body = None
        self.upgraded = True
        self._parser = httptools.HttpRequestParser(_UpgradeRequestBody(self))
        self._parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
        if rest:
            # Not `self._events.extend(self.feed(rest))`: feed() replaces the
            # list that `self._events.extend` would have been bound to.
            events = self.feed(rest)
            self._events.extend(events)

    def _reject(self, status: int, reason: str) -> None:
        self.stopped = True
        self._events.append(RequestRejected(status, reason))

    def _enter(self, section: _Section | None, cap: int = 0) -> None:
        self._epoch += 1
        self._section = section
        self._section_cap = cap
        self._metered = 0

    @property
    def head_id(self) -> int | None:
        """An id of the request head being read, None between heads (header timeout)."""
        return self._epoch if self._section is _HEAD and not self.stopped else None

    # -- llhttp callbacks ---------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._body_size = 0
        self._chunked = False
        self._te_final_chunked = False
        self._te_unknown = False
        self._hosts = 0
        self._content_length = -1
        self._expect_continue = False
        self._upgrade = None
        self._enter(_HEAD, self._max_head)

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._max_request_line:
            raise RequestRefused(414, "Request-URI too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        if value and value[-1] in _OWS:
            # RFC 9110 section 5.5: a field value has no trailing whitespace;
            # llhttp drops the leading OWS only.
            value = value.rstrip(b" \t")
        name = name.lower()
        headers = self._headers
        headers.append((name, value))
        self._header_bytes += len(name) + len(value)
        if len(headers) > self._max_headers:
            raise RequestRefused(431, "Too many request header fields")
        if self._header_bytes > self._max_header_bytes:
            raise RequestRefused(431, "Request header fields too large")
        if name in _FRAMING_FIELDS and self._section is _HEAD:
            # Noted for on_headers_complete (trailer fields come through here
            # too, and say nothing about framing: RFC 9110 section 6.5.1).
            if name == b"host":
                self._hosts += 1
                if value != self._valid_host:
                    if _HOST.fullmatch(value) is None:
                        # RFC 9112 section 3.2: a Host with an invalid value gets 400.
                        raise RequestRefused(400, "Malformed request: invalid Host header")
                    self._valid_host = value
            elif name == b"content-length":
                self._content_length = int(value)  # llhttp checked it (RFC 9112 section 6.3)
            elif name == b"transfer-encoding":
                # llhttp refuses any final coding but chunked (RFC 9112 section
                # 6.3 rule 4: 400); codings before it are noted for a 501.
                self._chunked = True
                if value.lower() == b"chunked":
                    self._te_final_chunked = True
                else:
                    self._note_transfer_codings(value)
            elif name == b"expect":
                if value.lower() == b"100-continue":
                    self._expect_continue = True
            else:
                self._upgrade = value

    def on_headers_complete(self) -> None:
        parser = self._parser
        expect_continue = self._expect_continue
        hosts = self._hosts
        content_length = self._content_length
        method = parser.get_method().decode("ascii")
        http_version = parser.get_http_version()
        if http_version not in ("1.1", "1.0"):
            # RFC 9112 section 2.3: this server speaks HTTP/1.x only.
            raise RequestRefused(505, "HTTP version not supported")
        if hosts > 1 or (hosts == 0 and http_version == "1.1"):
            # RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one before.
            raise RequestRefused(400, "Malformed request: a request needs exactly one Host header")
        max_body = self._max_body
        if max_body is not None and content_length > max_body:
            # RFC 9110 section 15.5.14: refuse before a byte of the body is read.
            raise RequestRefused(413, "Content too large")
        keep_alive = parser.should_keep_alive()
        if http_version == "1.0":
            # RFC 9110 section 10.1.1: a server ignores 100-continue from 1.0.
            expect_continue = False
            if self._chunked:
                # RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding
                # has faulty framing (a 1.0 proxy in front may not have removed
                # the coding); it is read as chunked, answered, and is the last.
                keep_alive = False
                self._last_message = True
        if self._te_unknown and self._te_final_chunked:
            # RFC 9112 section 6.1: a transfer coding the server does not
            # understand (only chunked is decoded) SHOULD get 501.
            raise RequestRefused(501, "Transfer coding not implemented: only chunked is")
        upgrade = self._upgrade
        if (
            (content_length > 0 or self._chunked)
            and upgrade is not None
            and parser.should_upgrade()
        ):
            # RFC 9110 section 7.8: a server may ignore Upgrade. hurtle takes
            # only requests without a body (a WebSocket handshake is a GET,
            # RFC 6455 section 4.1; h2c, net/connection.py), so this one is
            # served as it is, with its body, and the connection closes after.
            # (llhttp takes the bytes after the head for the new protocol's,
            # body or not: should_upgrade() says it will.)
            upgrade = None
            keep_alive = False
            self._upgrade_body = (
                b"transfer-encoding: chunked"
                if self._chunked
                else b"content-length: %d" % content_length
            )
        url = self._url
        headers = self._headers
        if url[:1] != b"/":
            headers = _check_other_target(method, url, headers)
        elif method == "CONNECT":
            # RFC 9112 section 3.2.3: CONNECT takes the authority-form only.
            raise RequestRefused(400, "Malformed request: CONNECT needs a host:port target")
        self._events.append(
            RequestReceived(
                method,
                url,
                http_version,
                headers,
                keep_alive,
                expect_continue,
                upgrade,
            )
        )
        # Trailer fields (after a chunked body) come through on_header too. RFC
        # 9110 section 6.5.1: never merge them into the header section, which
        # the event above already handed out; they go to a list that is dropped.
        self._headers = []
        self._header_bytes = 0
        if self._chunked:
            self._enter(_CHUNK_HEADER, self._limits.max_chunk_header)
        else:
            self._enter(None)

    def on_chunk_header(self) -> None:
        # Chunk data follows (metered: only its CRLF is not body), or, after
        # the last chunk, the trailer section (RFC 9112 section 7.1.2).
        self._enter(_TRAILERS, self._max_trailer)

    def on_chunk_complete(self) -> None:
        # The next chunk's size line and extensions (RFC 9112 section 7.1.1).
        self._enter(_CHUNK_HEADER, self._limits.max_chunk_header)

    def on_body(self, body: bytes) -> None:
        size = len(body)
        self._body_total += size
        max_body = self._max_body
        if max_body is not None:
            self._body_size += size
            if self._body_size > max_body:
                # A chunked body has no declared length: stop as soon as it
                # is over the limit (RFC 9110 section 15.5.14).
                raise RequestRefused(413, "Content too large")
        self._events.append(BodyReceived(body))

    def on_message_complete(self) -> None:
        self._enter(None)
        if self._upgrade_body is not None:
            return  # Not the end: llhttp skipped the body (see _read_upgrade_body).
        self._events.append(REQUEST_ENDED)
        if self._last_message:
            raise LastMessage()  # Stops llhttp here, in the middle of a read (see feed).

    def _note_transfer_codings(self, value: bytes) -> None:
        """One Transfer-Encoding line other than a plain `chunked` (RFC 9112 section 6.1)."""
        codings = [coding.strip(b" \t") for coding in value.lower().split(b",")]
        codings = [coding for coding in codings if coding]  # RFC 9110 section 5.6.1
        if codings:
            self._te_final_chunked = codings[-1] == b"chunked"
            if any(coding != b"chunked" for coding in codings):
                self._te_unknown = True


class _UpgradeRequestBody:
    """The callbacks of the llhttp parser that reads an upgrade request's body."""

    def __init__(self, parser: H1Parser) -> None:
        self.parser = parser

    def on_body(self, body: bytes) -> None:
        self.parser.on_body(body)  # Counted and limited as any body.

    def on_message_complete(self) -> None:
        self.parser._events.append(REQUEST_ENDED)
        self.parser.stopped = True


def _check_other_target(
    method: str, target: bytes, headers: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """Check a target that is not in origin-form; the headers the request goes on with.

    llhttp checked the characters; these are the rules of RFC 9112 section 3.2
    it leaves to its user. Off the hot path: browsers send the origin-form.
    """
    if target == b"*":
        if method != "OPTIONS":
            # RFC 9112 section 3.2.4: the asterisk-form is for OPTIONS only.
            raise RequestRefused(400, "Malformed request: the * target is for OPTIONS only")
        return headers
    if method == "CONNECT":
        return headers  # The authority-form (RFC 9112 section 3.2.3).
    _, separator, rest = target.partition(b"://")
    end = len(rest)
    for delimiter in (b"/", b"?", b"#"):
        found = rest.find(delimiter)
        if 0 <= found < end:
            end = found
    authority = rest[:end]
    if not separator or b"@" in authority:
        # RFC 9110 section 4.2.4: userinfo in an http(s) URI is treated as an error.
        raise RequestRefused(400, "Malformed request: invalid absolute-form target")
    if authority[:1] in (b"", b":") or _HOST.fullmatch(authority) is None:
        # RFC 9110 section 4.2.1: an http URI with an empty host is invalid.
        raise RequestRefused(400, "Malformed request: no host in the absolute-form target")
    # RFC 9112 section 3.2.2: an origin server MUST ignore the Host header of an
    # absolute-form request and use the target's authority instead; the app
    # reads the host from the headers, so that is where it goes.
    replaced = [(name, authority if name == b"host" else value) for name, value in headers]
    if not any(name == b"host" for name, _ in headers):
        replaced.append((b"host", authority))
    return replaced


def _describe(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return "Malformed request: " + text


_CRLF = b"\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
_CRLF_LAST_CHUNK = _CRLF + _LAST_CHUNK
_LAST_CHUNK_SIZE = b"0\r\n"
_NOTHING = (b"", b"", b"")


def early_hints(links: ResponseHeaders) -> bytes:
    """A `103 Early Hints` interim response carrying checked Link fields (RFC 8297).

    Only for an HTTP/1.1 client: a 1xx never goes to HTTP/1.0 (RFC 9110 section 15.2).
    """
    return b"".join([status_line(103), *links.lines, _CRLF])


class H1Response:
    """Frames one response. `head()` returns the status line and headers, `frame()` (or
    `body()`) each piece of body.

    The head is produced together with the first piece of body, so a response
    whose body arrives in one message is one write and gets a Content-Length.
    """

    __slots__ = (
        "_chunked",
        "_headers",
        "_no_body",
        "_remaining",
        "_status",
        "_tunnel",
        "body_bytes_written",
        "ended",
        "header_names",
        "keep_alive",
        "mismatch",
    )

    def __init__(
        self, status: int, headers: ResponseHeaders, request_method: str, keep_alive: bool
    ) -> None:
        # Both checked by the request cycle (asgi/http_core.py) when the app
        # sent them: a final status, headers with no CR, LF or NUL.
        self._status = status
        self._headers = headers
        # Lower-case names the app set: default headers of the same name give way.
        self.header_names = self._headers.names
        # RFC 9110 section 6.4.1: HEAD, 204 and 304 responses carry no body.
        self._no_body = request_method == "HEAD" or status == 204 or status == 304
        self._chunked = False
        self._remaining: int | None = None
        self.keep_alive = keep_alive and not self._headers.close
        self._tunnel = status < 300 and request_method == "CONNECT"
        if self._tunnel:
            # RFC 9110 section 9.3.6: after a 2xx to CONNECT the connection is a
            # tunnel; section 8.6 and RFC 9112 section 6.1: no Content-Length or
            # Transfer-Encoding in it. What the app sends goes out as is, and
            # the connection closes after it (hurtle relays no tunnel).
            self.keep_alive = False
        self.ended = False
        self.body_bytes_written = 0
        self.mismatch: str | None = None

    @property
    def status(self) -> int:
        return self._status

    def head(self, first_body: bytes, more_body: bool, http_version: str, defaults: bytes) -> bytes:
        """The status line and header block, framed for a body that begins with `first_body`.

        `defaults` is the block of default header lines (server, date, --header),
        already filtered against names the app set.
        """
        info = self._headers
        lines = info.lines
        length = info.content_length
        framing: bytes
        if self._status == 204 or self._tunnel:
            # RFC 9110 section 8.6: no Content-Length in 204 responses, nor in
            # a 2xx to CONNECT; RFC 9112 section 6.1: no Transfer-Encoding either.
            framing = b""
        elif length is not None:
            framing = b"content-length: %d\r\n" % length
            self._remaining = length
        elif self._no_body:
            framing = b""  # HEAD or 304 without a declared length: say nothing of it.
        elif not more_body and not (info.te_chunked and http_version == "1.1"):
            # The whole body is here (and the app did not ask for chunking).
            framing = b"content-length: %d\r\n" % len(first_body)
            self._remaining = len(first_body)
        elif http_version == "1.1":
            framing = b"transfer-encoding: chunked\r\n"
            self._chunked = True
        else:
            # RFC 9112 section 6.3 rule 8: an HTTP/1.0 client learns the end of
            # a body of unknown length from the connection closing.
            framing = b""
            self.keep_alive = False
        if not self.keep_alive:
            connection = b"connection: close\r\n"
        elif http_version == "1.0":
            connection = b"connection: keep-alive\r\n"
        else:
            connection = b""
        return b"".join([status_line(self._status), defaults, *lines, framing, connection, _CRLF])

    def body(self, data: bytes, more_body: bool) -> bytes:
        """Frame one piece of body; the last call has `more_body` false."""
        prefix, data, suffix = self.frame(data, more_body)
        return prefix + data + suffix if prefix or suffix else data

    def unframed(self, count: int) -> int | None:
        """How many of `count` body bytes may go out as they are (a file the kernel sends).

        Only a body of declared length goes unframed (RFC 9112 section 6.3:
        Content-Length frames it); never more than is left of it (RFC 9110
        section 8.6). None when framing is needed (chunked, close-delimited).
        The bytes count as written: the caller sends exactly that many, or
        the connection must be aborted.
        """
        remaining = self._remaining
        if self.ended or self._chunked or remaining is None:
            return None
        if self._no_body:
            return 0
        if count > remaining:
            self.mismatch = f"body longer than content-length ({self.body_bytes_written + count} > {self.body_bytes_written + remaining})"
            self.keep_alive = False
            count = remaining
        self._remaining = remaining - count
        self.body_bytes_written += count
        return count

    def frame(self, data: bytes, more_body: bool) -> tuple[bytes, bytes, bytes]:
        """One piece of body as (framing before, body, framing after).

        Apart, so that a large piece can be written without being copied
        into one buffer with its chunk framing.
        """
        if self.ended:
            raise InvalidResponse("response body sent after the response was complete")
        if not more_body:
            self.ended = True
        if self._no_body:
            return _NOTHING
        remaining = self._remaining
        if remaining is not None:
            size = len(data)
            if size > remaining:
                # RFC 9110 section 8.6: never send more than was declared.
                self.mismatch = f"body longer than content-length ({self.body_bytes_written + size} > {self.body_bytes_written + remaining})"
                data = data[:remaining]
                size = remaining
                self.keep_alive = False
            self._remaining = remaining - size
            self.body_bytes_written += size
            if not more_body and self._remaining and self.mismatch is None:
                self.mismatch = f"body shorter than content-length ({self.body_bytes_written} < {self.body_bytes_written + self._remaining})"
                self.keep_alive = False
            return b"", data, b""
        self.body_bytes_written += len(data)
        if self._chunked:
            # RFC 9112 section 7.1: chunk-size CRLF chunk-data CRLF, then last-chunk.
            if data:
                return b"%x\r\n" % len(data), data, _CRLF if more_body else _CRLF_LAST_CHUNK
            return _NOTHING if more_body else (b"", b"", _LAST_CHUNK)
        return b"", data, b""

    def trailers(self, lines: tuple[bytes, ...]) -> bytes:
        """End the body with trailer field lines, after a last piece sent with more to come.

        Only chunked coding carries trailers (RFC 9112 section 7.1.2): the
        last-chunk, the field lines, the final CRLF. Under any other framing
        (a Content-Length, no body, a body delimited by the close) they are
        dropped and the body ends as it would have. The caller passes no
        lines to a client that did not send `TE: trailers` (RFC 9110 section
        10.1.4).
        """
        if not self._chunked or self.ended:
            return self.body(b"", False)
        self.ended = True
        return b"".join([_LAST_CHUNK_SIZE, *lines, _CRLF])
