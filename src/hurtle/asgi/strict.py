"""--asgi-strict: the app's every message and call checked against the ASGI spec.

Theory of operation
-------------------
`StrictApp` wraps the app once, when the server loads it (server.py), and
only when the option is on: without it the app is served as it was loaded,
so the hot path has not one branch more (cost when off: none, by
construction). Each cycle (http, websocket, lifespan) gets a `StrictCycle`
that stands between the app and hurtle's `receive`/`send`: it checks every
message the app sends against a table, `RULES`, and then hands it on.

The table holds, per message type: the scope type it belongs to, the
extension that must be advertised in `scope["extensions"]` (asgiref
docs/extensions.rst), the states in which it may be sent, the state it
leads to, its fields (required or optional, each with a check), and the
section of the spec that says so. A new message is one more entry.

A violation is one `ASGIViolation` (an `InvalidResponse`, as hurtle's own
checks raise): logged once on `hurtle.error` when it is found, with the rule,
the spec's section, the app's own line (the first frame outside hurtle and
the standard library; when that is in an installed library, the innermost
frame of the app's own code as well) and the request; then raised into the
app from its `send` or `receive`. What the client gets is hurtle's rule for
an app that fails (asgi/http_core.py): the offending message never reaches
the protocol, so a violation before the head went out ends in a 500, and
after it in a reset stream (HTTP), close 1011 (WebSocket) or a failed
startup (lifespan). hurtle does not log the exception a second time.
One rule only reports: header names that are not lowercased (www.rst says
they must be) are served correctly, and Django sends every name as it was
set, so they are logged once per line of code and the message goes on.

What hurtle checks always, cheaply (status range, header tokens and CR/LF,
state order) it keeps checking; strict mode adds what is too costly to check
on every message (the exact type of every field, lower-case header names,
pseudo-headers, close codes, advertised extensions) and turns hurtle's own
refusals into the same one-line report.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any, Final

from hurtle.asgi.types import ASGIApp, ASGIViolation, Message, Receive, Scope, Send
from hurtle.logs import describe_scope, error_log
from hurtle.wire.errors import InvalidResponse

__all__ = ["RULES", "Rule", "StrictApp", "StrictCycle", "app_location"]

WWW: Final = "asgiref specs/www.rst"
LIFESPAN: Final = "asgiref specs/lifespan.rst"
EXTENSIONS: Final = "asgiref docs/extensions.rst"

# States of an HTTP response as the app sends it.
IDLE: Final = "idle"  # Nothing sent.
STARTED: Final = "started"  # http.response.start sent, no body yet.
STREAMING: Final = "streaming"  # Body sent with more_body.
TRAILERS: Final = "trailers"  # The body is complete; trailers were promised.
COMPLETE: Final = "complete"  # Nothing more may be sent.
# WebSocket.
CONNECTING: Final = "connecting"
OPEN: Final = "open"
DENYING: Final = "denying"  # websocket.http.response.start sent.
CLOSED: Final = "closed"  # websocket.close sent, or the denial response complete.
# Lifespan.
WAITING: Final = "waiting"  # lifespan.startup not received yet.
STARTING: Final = "starting"  # lifespan.startup received, not answered.
SERVING: Final = "serving"
STOPPING: Final = "stopping"  # lifespan.shutdown received, not answered.
STOPPED: Final = "stopped"
FAILED: Final = "failed"  # lifespan.startup.failed sent.

INITIAL_STATE: Final = {"http": IDLE, "websocket": CONNECTING, "lifespan": WAITING}

Check = Callable[[Any, Scope], str | None]


@dataclass(frozen=True)
class Field:
    key: str
    required: bool
    check: Check  # The value -> what is wrong with it, or None.
    says: str  # What the spec asks of the value: the rule.


@dataclass(frozen=True)
class Rule:
    """What the spec says of one message type the app sends."""

    scope_type: str
    section: str
    allowed: frozenset[str]  # The states it may be sent in.
    order: str  # What must come before it: the rule broken when sent in another state.
    fields: tuple[Field, ...]
    after: Callable[[StrictCycle, Message], str]  # The state it leads to.
    extension: str | None = None  # Only when advertised in scope["extensions"].


# -- field checks -------------------------------------------------------------


def _name(value: object) -> str:
    return type(value).__name__


def _is(kind: type, label: str) -> Check:
    def check(value: Any, scope: Scope) -> str | None:
        # `type(...) is`: True is an int and a bytearray is bytes-like, but the
        # spec's types are exact, and other servers (granian) accept no other.
        return None if type(value) is kind else f"must be {label}, got {_name(value)}"

    return check


_bytes = _is(bytes, "bytes")
_str = _is(str, "str")
_bool = _is(bool, "a bool")


def _optional_str(value: Any, scope: Scope) -> str | None:
    return None if value is None else _str(value, scope)


def _optional_bytes(value: Any, scope: Scope) -> str | None:
    return None if value is None else _bytes(value, scope)


def _final_status(value: Any, scope: Scope) -> str | None:
    if type(value) is not int:
        return f"must be an int, got {_name(value)}"
    if not 200 <= value <= 599:
        # RFC 9110 section 15: a final response is 2xx to 5xx; 1xx are interim
        # (103 has its own message, http.response.early_hint).
        return f"must be a final status from 200 to 599 (RFC 9110 section 15), got {value}"
    return None


def _non_negative_int(value: Any, scope: Scope) -> str | None:
    if type(value) is not int:
        return f"must be an int, got {_name(value)}"
    return None if value >= 0 else f"must not be negative, got {value}"


def _iterable(value: Any, what: str) -> tuple[list[Any] | None, str | None]:
    """The items of an iterable the spec asks for (never a str, bytes or mapping)."""
    if isinstance(value, str | bytes | bytearray | memoryview | Mapping):
        return None, f"must be an iterable of {what}, got {_name(value)}"
    try:
        return list(value), None
    except TypeError:
        return None, f"must be an iterable of {what}, got {_name(value)}"


def _headers(value: Any, scope: Scope) -> str | None:
    """www.rst: an iterable of [name, value] two-item iterables of bytes; names
    lowercased; no pseudo-headers (RFC 9113 section 8.3 keeps them to HTTP/2)."""
    items, problem = _iterable(value, "[name, value] pairs")
    if items is None:
        return problem
    for item in items:
        pair, problem = _iterable(item, "two items")
        if pair is None or len(pair) != 2:
            return f"must hold [name, value] pairs, got {item!r}"
        name, field_value = pair
        if type(name) is not bytes or type(field_value) is not bytes:
            return f"names and values must be bytes, got {item!r}"
        if name.startswith(b":"):
            return f"must not hold pseudo-headers, got {name!r}"
    return None


def _upper_case_name(headers: list[Any] | tuple[Any, ...]) -> bytes | None:
    """The first header name that is not lowercased (the headers passed _headers)."""
    for name, _ in headers:
        if name != name.lower():
            return bytes(name)
    return None


def _accept_headers(value: Any, scope: Scope) -> str | None:
    problem = _headers(value, scope)
    if problem is None and any(pair[0] == b"sec-websocket-protocol" for pair in value):
        return "must not hold sec-websocket-protocol (use 'subprotocol')"
    return problem


def _links(value: Any, scope: Scope) -> str | None:
    items, problem = _iterable(value, "bytes (Link field values)")
    if items is None:
        return problem
    for item in items:
        if type(item) is not bytes:
            return f"must hold bytes (Link field values, RFC 8288), got {_name(item)}"
    return None


def _subprotocol(value: Any, scope: Scope) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        return f"must be a str or None, got {_name(value)}"
    offered = list(scope.get("subprotocols") or ())
    if value not in offered:
        # RFC 6455 section 4.2.2: the server picks one of the client's values.
        return f"{value!r} is not one the client offered {offered!r} (RFC 6455 section 4.2.2)"
    return None


# RFC 6455 section 7.4: the codes an endpoint may send in a Close frame. 1004,
# 1005, 1006 and 1015 are never sent; 1012-1014 are the IANA registry's later
# additions; 3000-4999 belong to libraries, frameworks and applications.
SENDABLE_CLOSE_CODES: Final = frozenset({*range(1000, 1004), *range(1007, 1015)})


def _close_code(value: Any, scope: Scope) -> str | None:
    if type(value) is not int:
        return f"must be an int, got {_name(value)}"
    if value in SENDABLE_CLOSE_CODES or 3000 <= value <= 4999:
        return None
    return f"{value} may not be sent (RFC 6455 section 7.4: 1000-1003, 1007-1014 or 3000-4999)"


def _close_reason(value: Any, scope: Scope) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        return f"must be a str or None, got {_name(value)}"
    if len(value.encode("utf-8", "surrogatepass")) > 123:
        # RFC 6455 section 5.5: a control frame carries at most 125 bytes, 2 of them the code.
        return "must be at most 123 bytes in UTF-8 (RFC 6455 section 5.5)"
    return None


def _absolute_path(value: Any, scope: Scope) -> str | None:
    if type(value) is not str:
        return f"must be a str, got {_name(value)}"
    return None if os.path.isabs(value) else f"must be an absolute path, got {value!r}"


def _file(value: Any, scope: Scope) -> str | None:
    fileno = getattr(value, "fileno", None)
    if not callable(fileno):
        return f"must be a file object with a fileno() (for os.sendfile), got {_name(value)}"
    return None


# -- the table ------------------------------------------------------------------


def _pathsend_end(cycle: StrictCycle, message: Message) -> str:
    return TRAILERS if cycle.trailers_promised else COMPLETE


def _body_end(cycle: StrictCycle, message: Message) -> str:
    """After a body piece: more to come, the promised trailers, or the end."""
    if message.get("more_body", False):
        return STREAMING
    return TRAILERS if cycle.trailers_promised else COMPLETE


def _start(cycle: StrictCycle, message: Message) -> str:
    cycle.trailers_promised = message.get("trailers", False) is True
    return STARTED


def _stay(cycle: StrictCycle, message: Message) -> str:
    return cycle.state


def _to(state: str) -> Callable[[StrictCycle, Message], str]:
    return lambda cycle, message: state


_BODY_FIELDS = (Field("body", False, _bytes, "bytes"), Field("more_body", False, _bool, "a bool"))

RULES: dict[str, Rule] = {
    # -- http (www.rst) --
    "http.response.start": Rule(
        "http",
        f"{WWW}, 'Response Start - send event'",
        frozenset({IDLE}),
        "once, before any body",
        (
            Field("status", True, _final_status, "an int, a final status from 200 to 599"),
            Field(
                "headers",
                False,
                _headers,
                "an iterable of [name, value] pairs of bytes, names lowercased, no pseudo-headers",
            ),
            Field("trailers", False, _bool, "a bool"),
        ),
        _start,
    ),
    "http.response.body": Rule(
        "http",
        f"{WWW}, 'Response Body - send event'",
        frozenset({STARTED, STREAMING}),
        "after http.response.start and before the last body (more_body False)",
        _BODY_FIELDS,
        _body_end,
    ),
    # -- http extensions (extensions.rst) --
    "http.response.early_hint": Rule(
        "http",
        f"{EXTENSIONS}, 'Early Hints'",
        frozenset({IDLE}),
        "before http.response.start (a 103 must precede the final response, RFC 8297)",
        (Field("links", True, _links, "an iterable of bytes (Link field values)"),),
        _stay,
        extension="http.response.early_hint",
    ),
    "http.response.trailers": Rule(
        "http",
        f"{EXTENSIONS}, 'HTTP Trailers'",
        frozenset({TRAILERS}),
        "after the last body, and only when http.response.start said trailers=True",
        (
            Field(
                "headers",
                True,
                _headers,
                "an iterable of [name, value] pairs of bytes, names lowercased, no pseudo-headers",
            ),
            Field("more_trailers", False, _bool, "a bool"),
        ),
        lambda cycle, message: TRAILERS if message.get("more_trailers", False) else COMPLETE,
        extension="http.response.trailers",
    ),
    "http.response.pathsend": Rule(
        "http",
        f"{EXTENSIONS}, 'Path Send'",
        frozenset({STARTED}),
        "once, after http.response.start, instead of (not mixed with) http.response.body",
        (Field("path", True, _absolute_path, "an absolute path (a str)"),),
        _pathsend_end,
        extension="http.response.pathsend",
    ),
    "http.response.zerocopysend": Rule(
        "http",
        f"{EXTENSIONS}, 'Zero Copy Send'",
        frozenset({STARTED, STREAMING}),
        "after http.response.start and before the last body (more_body False)",
        (
            Field("file", True, _file, "a file object with a fileno()"),
            Field("offset", False, _non_negative_int, "an int >= 0"),
            Field("count", False, _non_negative_int, "an int >= 0"),
            Field("more_body", False, _bool, "a bool"),
        ),
        _body_end,
        extension="http.response.zerocopysend",
    ),
    "http.response.push": Rule(
        "http",
        f"{EXTENSIONS}, 'HTTP/2 Server Push'",
        frozenset({STARTED, STREAMING}),
        "after http.response.start and before the last body",
        (
            Field("path", True, _str, "a str"),
            Field(
                "headers",
                True,
                _headers,
                "an iterable of [name, value] pairs of bytes, names lowercased, no pseudo-headers",
            ),
        ),
        _stay,
        extension="http.response.push",
    ),
    # -- websocket (www.rst) --
    "websocket.accept": Rule(
        "websocket",
        f"{WWW}, 'Accept - send event'",
        frozenset({CONNECTING}),
        "once, in answer to websocket.connect, before anything else",
        (
            Field("subprotocol", False, _subprotocol, "None, or one of the scope's subprotocols"),
            Field(
                "headers",
                False,
                _accept_headers,
                "an iterable of [name, value] pairs of bytes, names lowercased, no pseudo-headers, no sec-websocket-protocol",
            ),
        ),
        _to(OPEN),
    ),
    "websocket.send": Rule(
        "websocket",
        f"{WWW}, 'Send - send event'",
        frozenset({OPEN}),
        "after websocket.accept and before websocket.close",
        (
            Field("bytes", False, _optional_bytes, "bytes or None"),
            Field("text", False, _optional_str, "a str or None"),
        ),
        _stay,
    ),
    "websocket.close": Rule(
        "websocket",
        f"{WWW}, 'Close - send event'",
        frozenset({CONNECTING, OPEN}),
        "once; nothing follows it (RFC 6455 section 5.5.1), and not during a denial response",
        (
            Field(
                "code",
                False,
                _close_code,
                "an int sendable in a Close frame (1000-1003, 1007-1014, 3000-4999)",
            ),
            Field("reason", False, _close_reason, "a str or None, at most 123 bytes in UTF-8"),
        ),
        _to(CLOSED),
    ),
    "websocket.http.response.start": Rule(
        "websocket",
        f"{EXTENSIONS}, 'Websocket Denial Response'",
        frozenset({CONNECTING}),
        "instead of websocket.accept or websocket.close, once",
        (
            Field("status", True, _final_status, "an int, a final status from 200 to 599"),
            Field(
                "headers",
                False,
                _headers,
                "an iterable of [name, value] pairs of bytes, names lowercased, no pseudo-headers",
            ),
        ),
        _to(DENYING),
        extension="websocket.http.response",
    ),
    "websocket.http.response.body": Rule(
        "websocket",
        f"{EXTENSIONS}, 'Websocket Denial Response'",
        frozenset({DENYING}),
        "after websocket.http.response.start and before its last body",
        _BODY_FIELDS,
        lambda cycle, message: DENYING if message.get("more_body", False) else CLOSED,
        extension="websocket.http.response",
    ),
    # -- lifespan (lifespan.rst) --
    "lifespan.startup.complete": Rule(
        "lifespan",
        f"{LIFESPAN}, 'Startup Complete - send event'",
        frozenset({STARTING}),
        "once, after receiving lifespan.startup",
        (),
        _to(SERVING),
    ),
    "lifespan.startup.failed": Rule(
        "lifespan",
        f"{LIFESPAN}, 'Startup Failed - send event'",
        frozenset({STARTING}),
        "once, after receiving lifespan.startup",
        (Field("message", False, _str, "a str"),),
        _to(FAILED),
    ),
    "lifespan.shutdown.complete": Rule(
        "lifespan",
        f"{LIFESPAN}, 'Shutdown Complete - send event'",
        frozenset({STOPPING}),
        "once, after receiving lifespan.shutdown",
        (),
        _to(STOPPED),
    ),
    "lifespan.shutdown.failed": Rule(
        "lifespan",
        f"{LIFESPAN}, 'Shutdown Failed - send event'",
        frozenset({STOPPING}),
        "once, after receiving lifespan.shutdown",
        (Field("message", False, _str, "a str"),),
        _to(STOPPED),
    ),
}


# -- where in the app ---------------------------------------------------------

_HURTLE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # src/hurtle/
_STDLIB_DIRS = tuple(
    {os.path.abspath(sysconfig.get_paths()[key]) + os.sep for key in ("stdlib", "platstdlib")}
)


def _is_ours(filename: str) -> bool:
    """hurtle's own code, the standard library (asyncio, contextlib) or a frozen module.

    Outside a virtual environment site-packages lies inside the standard
    library's directory: what is installed there is not the standard library.
    """
    if filename.startswith(("<", _HURTLE_DIR)):
        return True
    return filename.startswith(_STDLIB_DIRS) and not _is_library(filename)


def _is_library(filename: str) -> bool:
    return f"{os.sep}site-packages{os.sep}" in filename or f"{os.sep}dist-packages{os.sep}" in (
        filename
    )


def _where(frame: FrameType) -> str:
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def app_location(frame: FrameType | None) -> str:
    """The app's line in a stack: the first frame outward of `frame` that is not
    hurtle's or the standard library's; inside an installed library (a
    framework's send) the innermost frame of the app's own code follows it."""
    while frame is not None and _is_ours(os.path.abspath(frame.f_code.co_filename)):
        frame = frame.f_back
    if frame is None:
        return "an unknown place (no frame outside hurtle)"
    where = _where(frame)
    if _is_library(frame.f_code.co_filename):
        outer = frame.f_back
        while outer is not None:
            name = os.path.abspath(outer.f_code.co_filename)
            if not _is_ours(name) and not _is_library(name):
                return f"{where}, called from {_where(outer)}"
            outer = outer.f_back
    return where


# -- the checking cycle ---------------------------------------------------------


class StrictCycle:
    """One cycle's receive and send, checked; it hands on what passes."""

    trailers_promised: bool  # http.response.start said trailers=True.

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        reported: set[tuple[str, str]] | None = None,
    ) -> None:
        self.scope = scope
        # (rule, line of code) of the violations reported once (report_once).
        self.reported = reported if reported is not None else set()
        self.kind: str = scope["type"]
        self.state: str = INITIAL_STATE[self.kind]
        self.trailers_promised = False
        self.connect_received = False  # websocket.connect given to the app.
        self.disconnect_received = False  # websocket.disconnect given to the app.
        self._receive = receive
        self._send = send

    def violation(self, what: str, rule: str, section: str) -> ASGIViolation:
        """Log one violation and return the exception to raise into the app."""
        # Frame 1 is the cycle's send or receive; app_location walks out of hurtle.
        text = self._report(what, rule, section, app_location(sys._getframe(1)))
        error_log.error("%s", text)
        return ASGIViolation(text)

    def report_once(self, what: str, rule: str, section: str) -> None:
        """Log a violation that hurtle serves correctly, and let the message through.

        Once per rule and line of code, not per request: an app that breaks
        such a rule breaks it on every response (Django sends its header
        names as they were set), and a 500 for each would make strict mode
        useless for it. Other servers may refuse the message, hence the report.
        """
        where = app_location(sys._getframe(1))
        if (rule, where) in self.reported:
            return
        self.reported.add((rule, where))
        text = self._report(what, rule, section, where)
        error_log.error("%s. Sent anyway (hurtle serves it; reported once for this line)", text)

    def _report(self, what: str, rule: str, section: str, where: str) -> str:
        return (
            f"ASGI violation in {describe_scope(self.scope)}: {what}. "
            f"Rule: {rule} ({section}). At {where}"
        )

    async def receive(self) -> Message:
        if self.kind == "websocket":
            if self.state == CONNECTING and self.connect_received:
                raise self.violation(
                    "receive() called again before the handshake was answered",
                    "websocket.connect must be answered (accept, close or a denial "
                    "response) before websocket.receive messages can come",
                    f"{WWW}, 'Connect - receive event'",
                )
            if self.disconnect_received:
                raise self.violation(
                    "receive() called after websocket.disconnect",
                    "the connection scope ends with websocket.disconnect: no message follows it",
                    f"{WWW}, 'Disconnect - receive event' and 'Websocket Connection Scope'",
                )
        message = await self._receive()
        kind = message.get("type")
        if kind == "websocket.connect":
            self.connect_received = True
        elif kind == "websocket.disconnect":
            self.disconnect_received = True
        elif kind == "lifespan.startup":
            self.state = STARTING
        elif kind == "lifespan.shutdown":
            self.state = STOPPING
        return message

    async def send(self, message: Message) -> None:
        if not isinstance(message, dict):
            raise self.violation(
                f"send() was given a {_name(message)}, not a dict",
                "every message is a dict",
                "asgiref specs/main.rst, 'Applications'",
            )
        headers = message.get("headers")
        if headers is not None and not isinstance(headers, list | tuple):
            # A one-shot iterable (a generator) would be used up by the check:
            # check, and hand on, a list of it.
            items, _ = _iterable(headers, "")
            if items is not None:
                message = {**message, "headers": items}
        kind = message.get("type")
        rule = RULES.get(kind) if type(kind) is str else None
        if rule is None or rule.scope_type != self.kind:
            raise self.violation(
                f"unknown message type {kind!r} for a {self.kind} scope",
                f"the app sends only the {self.kind} messages of the spec",
                LIFESPAN if self.kind == "lifespan" else WWW,
            )
        if rule.extension is not None and rule.extension not in (
            self.scope.get("extensions") or {}
        ):
            raise self.violation(
                f"{kind} sent, but the scope does not advertise {rule.extension!r}",
                "extension messages only when scope['extensions'] advertises them",
                f"{EXTENSIONS}, introduction",
            )
        if self.state not in rule.allowed:
            raise self.violation(
                f"{kind} sent while the {self.kind} cycle is {self.state}",
                f"{kind} is sent {rule.order}",
                rule.section,
            )
        for field in rule.fields:
            if field.key not in message:
                if field.required:
                    raise self.violation(
                        f"{kind} has no {field.key!r}",
                        f"{kind} needs {field.key!r}, {field.says}",
                        rule.section,
                    )
                continue
            problem = field.check(message[field.key], self.scope)
            if problem is not None:
                raise self.violation(
                    f"{kind} {field.key!r}: {problem}",
                    f"{kind} {field.key!r} is {field.says}",
                    rule.section,
                )
        joint = self._message_rule(message)
        if joint is not None:
            raise self.violation(joint[0], joint[1], rule.section)
        headers = message.get("headers")
        checked = any(field.key == "headers" for field in rule.fields)
        if checked and headers and (upper := _upper_case_name(headers)) is not None:
            self.report_once(
                f"{kind} 'headers': names must be lowercased, got {upper!r}",
                f"{kind} header names must be lowercased",
                rule.section,
            )
        previous = self.state
        self.state = rule.after(self, message)
        try:
            await self._send(message)
        except ASGIViolation:
            raise
        except InvalidResponse as exc:
            # A check hurtle always makes (a header token, CR/LF in a value,
            # content-length): reported the same way.
            self.state = previous
            raise self.violation(
                f"{kind} refused: {exc}",
                "what hurtle checks of every message (RFC 9110 field syntax, framing)",
                rule.section,
            ) from None

    def _message_rule(self, message: Message) -> tuple[str, str] | None:
        """The rules that tie fields together (what, rule), or None."""
        kind = message["type"]
        if kind == "websocket.send":
            if (message.get("bytes") is None) == (message.get("text") is None):
                return (
                    "websocket.send needs exactly one of 'bytes' and 'text' that is not None",
                    "exactly one of bytes or text must be non-None",
                )
        elif (
            kind == "http.response.start"
            and message.get("trailers") is True
            and "http.response.trailers" not in (self.scope.get("extensions") or {})
        ):
            return (
                "http.response.start said trailers=True, but the scope does not "
                "advertise 'http.response.trailers'",
                "extension messages only when scope['extensions'] advertises them",
            )
        return None


class StrictApp:
    """The app with every cycle checked (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.reported: set[tuple[str, str]] = set()  # Shared by every cycle: see report_once.

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in INITIAL_STATE:
            await self.app(scope, receive, send)
            return
        cycle = StrictCycle(scope, receive, send, self.reported)
        await self.app(scope, cycle.receive, cycle.send)
