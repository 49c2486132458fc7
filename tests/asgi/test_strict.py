"""--asgi-strict's checks in-process: `StrictCycle` between an app and a recorder.

Each bad message is one violation: logged once on hurtle.error with the
rule, the spec's section and the line of this file that sent it, raised into
the caller as ASGIViolation, and never handed on. Good sequences reach the
recorder unchanged. tests/e2e/test_app_tools.py runs the same mode through a
real server (the 500, the reset, close 1011, a failed startup).
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from hurtle.asgi.strict import RULES, StrictApp, StrictCycle
from hurtle.asgi.types import ASGIViolation, Message, Scope
from hurtle.wire.errors import InvalidResponse

HERE = __file__


class Recorder:
    """The server side: hands out `incoming`, remembers what was sent."""

    def __init__(self, *incoming: Message, refuse: str | None = None) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []
        self.refuse = refuse

    async def receive(self) -> Message:
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        if self.refuse is not None:
            raise InvalidResponse(self.refuse)
        self.sent.append(message)


def http_scope(**extensions: Any) -> Scope:
    return {"type": "http", "method": "GET", "path": "/strict", "extensions": extensions}


def ws_scope(subprotocols: tuple[str, ...] = (), **extensions: Any) -> Scope:
    return {
        "type": "websocket",
        "path": "/ws",
        "subprotocols": list(subprotocols),
        "extensions": {"websocket.http.response": {}, **extensions},
    }


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def send_all(cycle: StrictCycle, messages: list[Message]) -> None:
    for message in messages:
        await cycle.send(message)


def violation_of(
    caplog: pytest.LogCaptureFixture, cycle: StrictCycle, messages: list[Message]
) -> str:
    """Send `messages`; the one violation they make, checked for its parts."""
    with caplog.at_level("ERROR", logger="hurtle.error"):
        caplog.clear()
        with pytest.raises(ASGIViolation) as caught:
            run(send_all(cycle, messages))
    records = [r for r in caplog.records if r.name == "hurtle.error"]
    assert len(records) == 1, caplog.text
    text = records[0].getMessage()
    assert text.startswith("ASGI violation in ")
    assert str(caught.value) in text
    assert "Rule: " in text and "asgiref " in text  # The rule, and the section that says so.
    # The app's line: send_all's `await cycle.send(...)`, outside hurtle.
    assert f"At {HERE}:" in text, text
    assert "in send_all" in text, text
    return text


START: Message = {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]}
BODY: Message = {"type": "http.response.body", "body": b"x"}


# -- HTTP ---------------------------------------------------------------------


def test_a_correct_response_passes_unchanged() -> None:
    recorder = Recorder()
    cycle = StrictCycle(http_scope(), recorder.receive, recorder.send)
    more = {"type": "http.response.body", "body": b"a", "more_body": True}
    run(send_all(cycle, [START, more, BODY]))
    assert recorder.sent == [START, more, BODY]
    assert cycle.state == "complete"


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([BODY], "http.response.body sent while the http cycle is idle"),
        ([START, START], "http.response.start sent while the http cycle is started"),
        ([START, BODY, BODY], "http.response.body sent while the http cycle is complete"),
        ([{"type": "http.response.start"}], "http.response.start has no 'status'"),
        ([{**START, "status": "200"}], "'status': must be an int, got str"),
        ([{**START, "status": True}], "'status': must be an int, got bool"),
        ([{**START, "status": 103}], "final status from 200 to 599"),
        ([{**START, "headers": [(b":status", b"200")]}], "must not hold pseudo-headers"),
        ([{**START, "headers": [("a", "b")]}], "names and values must be bytes"),
        ([{**START, "headers": [(b"a", bytearray(b"b"))]}], "names and values must be bytes"),
        ([{**START, "headers": [(b"a", b"b", b"c")]}], "[name, value] pairs"),
        ([{**START, "headers": {b"a": b"b"}}], "must be an iterable"),
        ([{**START, "headers": b"a: b"}], "must be an iterable"),
        ([{**START, "trailers": 1}], "'trailers': must be a bool"),
        ([{**START, "trailers": True}], "does not advertise 'http.response.trailers'"),
        ([START, {**BODY, "body": "text"}], "'body': must be bytes, got str"),
        ([START, {**BODY, "body": memoryview(b"x")}], "'body': must be bytes"),
        ([START, {**BODY, "more_body": 1}], "'more_body': must be a bool, got int"),
        ([{"type": "http.response.early_hint", "links": [b"</a>"]}], "does not advertise"),
        ([START, {"type": "websocket.send", "text": "x"}], "unknown message type"),
        ([{"status": 200}], "unknown message type None"),
        ([[("type", "http.response.start")]], "not a dict"),
    ],
)
def test_http_violations(
    caplog: pytest.LogCaptureFixture, messages: list[Message], expected: str
) -> None:
    recorder = Recorder()
    cycle = StrictCycle(http_scope(), recorder.receive, recorder.send)
    text = violation_of(caplog, cycle, messages)
    assert expected in text
    assert "in GET /strict:" in text
    assert len(recorder.sent) == len(messages) - 1  # The bad one was not handed on.


def test_the_spec_section_is_named(caplog: pytest.LogCaptureFixture) -> None:
    cycle = StrictCycle(http_scope(), Recorder().receive, Recorder().send)
    text = violation_of(caplog, cycle, [{**START, "headers": [(b":x", b"y")]}])
    assert "(asgiref specs/www.rst, 'Response Start - send event')" in text
    cycle = StrictCycle(http_scope(), Recorder().receive, Recorder().send)
    text = violation_of(caplog, cycle, [BODY])
    assert "Rule: http.response.body is sent after http.response.start" in text
    assert "'Response Body - send event'" in text


def test_upper_case_names_are_reported_once_per_line_and_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Django sends header names as they were set: a 500 for each response
    would make strict mode useless for it, and hurtle serves them correctly."""
    reported: set[tuple[str, str]] = set()
    sent: list[Message] = []
    upper = {**START, "headers": [(b"Content-Type", b"text/plain")]}
    with caplog.at_level("ERROR", logger="hurtle.error"):
        for _ in range(3):  # Three requests, the same line of code.
            recorder = Recorder()
            cycle = StrictCycle(http_scope(), recorder.receive, recorder.send, reported)
            run(send_all(cycle, [upper, BODY]))
            sent += recorder.sent
    assert sent == [upper, BODY] * 3
    [error] = [r.getMessage() for r in caplog.records if r.name == "hurtle.error"]
    assert "'headers': names must be lowercased, got b'Content-Type'" in error
    assert "Rule: http.response.start header names must be lowercased" in error
    assert f"At {HERE}:" in error and "in send_all" in error
    assert error.endswith("Sent anyway (hurtle serves it; reported once for this line)")


def test_headers_from_a_generator_are_checked_and_handed_on() -> None:
    recorder = Recorder()
    cycle = StrictCycle(http_scope(), recorder.receive, recorder.send)
    pairs = [(b"a", b"1"), (b"b", b"2")]
    run(send_all(cycle, [{**START, "headers": (pair for pair in pairs)}, BODY]))
    assert list(recorder.sent[0]["headers"]) == pairs


def test_hurtles_own_refusal_is_reported_the_same_way(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(refuse="header b'a b' is not a valid HTTP token")
    cycle = StrictCycle(http_scope(), recorder.receive, recorder.send)
    text = violation_of(caplog, cycle, [START])
    assert "refused: header b'a b' is not a valid HTTP token" in text
    assert cycle.state == "idle"  # Nothing was sent: a 500 may still follow.


def test_extensions_when_advertised() -> None:
    recorder = Recorder()
    scope = http_scope(
        **{
            "http.response.trailers": {},
            "http.response.early_hint": {},
            "http.response.zerocopysend": {},
        }
    )
    cycle = StrictCycle(scope, recorder.receive, recorder.send)
    messages: list[Message] = [
        {"type": "http.response.early_hint", "links": [b"</style.css>; rel=preload"]},
        {"type": "http.response.early_hint", "links": (b"</a.js>; rel=preload",)},
        {**START, "trailers": True},
        {"type": "http.response.zerocopysend", "file": io.BytesIO(), "count": 0, "more_body": True},
        {**BODY, "more_body": False},
        {"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]},
    ]
    run(send_all(cycle, messages))
    assert [m["type"] for m in recorder.sent] == [m["type"] for m in messages]
    assert cycle.state == "complete"


@pytest.mark.parametrize(
    ("extensions", "messages", "expected"),
    [
        (
            ["http.response.trailers"],
            [START, BODY, {"type": "http.response.trailers", "headers": []}],
            "http.response.trailers sent while the http cycle is complete",
        ),
        (
            ["http.response.trailers"],
            [{**START, "trailers": True}, {"type": "http.response.trailers", "headers": []}],
            "sent while the http cycle is started",
        ),
        (
            ["http.response.trailers"],
            [{**START, "trailers": True}, BODY, {"type": "http.response.trailers"}],
            "has no 'headers'",
        ),
        (
            ["http.response.pathsend"],
            [START, {"type": "http.response.pathsend", "path": "relative.txt"}],
            "must be an absolute path",
        ),
        (
            ["http.response.pathsend"],
            [START, {**BODY, "more_body": True}, {"type": "http.response.pathsend", "path": "/a"}],
            "http.response.pathsend sent while the http cycle is streaming",
        ),
        (
            ["http.response.zerocopysend"],
            [START, {"type": "http.response.zerocopysend", "file": b"data"}],
            "with a fileno()",
        ),
        (
            ["http.response.zerocopysend"],
            [START, {"type": "http.response.zerocopysend", "file": io.BytesIO(), "offset": -1}],
            "must not be negative",
        ),
        (
            ["http.response.early_hint"],
            [START, BODY, {"type": "http.response.early_hint", "links": [b"</a>"]}],
            "early_hint sent while the http cycle is complete",
        ),
        (
            ["http.response.early_hint"],
            [START, {"type": "http.response.early_hint", "links": [b"</a>"]}],
            "early_hint sent while the http cycle is started",
        ),
        (
            ["http.response.early_hint"],
            [{"type": "http.response.early_hint", "links": ["</a>"]}],
            "must hold bytes",
        ),
        (
            ["http.response.push"],
            [START, {"type": "http.response.push", "path": "/a", "headers": [(b":a", b"b")]}],
            "must not hold pseudo-headers",
        ),
    ],
)
def test_extension_violations(
    caplog: pytest.LogCaptureFixture,
    extensions: list[str],
    messages: list[Message],
    expected: str,
) -> None:
    recorder = Recorder()
    cycle = StrictCycle(
        http_scope(**{key: {} for key in extensions}), recorder.receive, recorder.send
    )
    assert expected in violation_of(caplog, cycle, messages)


def test_every_rule_names_its_section() -> None:
    for kind, rule in RULES.items():
        assert rule.section.startswith("asgiref "), kind
        assert kind.startswith(rule.scope_type), kind
        if rule.extension is not None:
            assert "extensions.rst" in rule.section, kind


# -- WebSocket ------------------------------------------------------------------

CONNECT: Message = {"type": "websocket.connect"}


def test_a_correct_websocket_passes() -> None:
    recorder = Recorder(CONNECT, {"type": "websocket.receive", "text": "hi"})
    cycle = StrictCycle(ws_scope(("chat",)), recorder.receive, recorder.send)

    async def app() -> None:
        await cycle.receive()
        await cycle.send({"type": "websocket.accept", "subprotocol": "chat", "headers": []})
        message = await cycle.receive()
        await cycle.send({"type": "websocket.send", "text": message["text"], "bytes": None})
        await cycle.send({"type": "websocket.send", "bytes": b"x"})
        await cycle.send({"type": "websocket.close", "code": 4000, "reason": "bye"})

    run(app())
    assert [m["type"] for m in recorder.sent] == ["websocket.accept"] + ["websocket.send"] * 2 + [
        "websocket.close"
    ]


ACCEPT: Message = {"type": "websocket.accept"}


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([ACCEPT, ACCEPT], "websocket.accept sent while the websocket cycle is open"),
        ([{"type": "websocket.send", "text": "x"}], "sent while the websocket cycle is connecting"),
        ([ACCEPT, {"type": "websocket.send"}], "exactly one of 'bytes' and 'text'"),
        ([ACCEPT, {"type": "websocket.send", "text": "a", "bytes": b"b"}], "exactly one"),
        ([ACCEPT, {"type": "websocket.send", "text": b"a"}], "'text': must be str"),
        ([ACCEPT, {"type": "websocket.close", "code": 1005}], "1005 may not be sent"),
        ([ACCEPT, {"type": "websocket.close", "code": 1006}], "1006 may not be sent"),
        ([ACCEPT, {"type": "websocket.close", "code": 999}], "999 may not be sent"),
        ([ACCEPT, {"type": "websocket.close", "code": 5000}], "5000 may not be sent"),
        ([ACCEPT, {"type": "websocket.close", "code": "1000"}], "'code': must be an int"),
        ([ACCEPT, {"type": "websocket.close", "reason": "x" * 124}], "at most 123 bytes"),
        (
            [ACCEPT, {"type": "websocket.close"}, {"type": "websocket.close"}],
            "websocket.close sent while the websocket cycle is closed",
        ),
        (
            [ACCEPT, {"type": "websocket.close"}, {"type": "websocket.send", "text": "x"}],
            "websocket.send sent while the websocket cycle is closed",
        ),
        ([{"type": "websocket.accept", "subprotocol": "chat"}], "not one the client offered"),
        (
            [{"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"x")]}],
            "must not hold sec-websocket-protocol",
        ),
        (
            [{"type": "websocket.http.response.start", "status": 403}, ACCEPT],
            "websocket.accept sent while the websocket cycle is denying",
        ),
        (
            [{"type": "websocket.http.response.body", "body": b""}],
            "websocket.http.response.body sent while the websocket cycle is connecting",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 403},
                {"type": "websocket.close"},
            ],
            "websocket.close sent while the websocket cycle is denying",
        ),
        ([{"type": "http.response.start", "status": 200}], "unknown message type"),
    ],
)
def test_websocket_violations(
    caplog: pytest.LogCaptureFixture, messages: list[Message], expected: str
) -> None:
    recorder = Recorder()
    cycle = StrictCycle(ws_scope(), recorder.receive, recorder.send)
    text = violation_of(caplog, cycle, messages)
    assert expected in text
    assert "in WebSocket /ws:" in text


def test_sendable_close_codes() -> None:
    for code in (1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999):
        recorder = Recorder()
        cycle = StrictCycle(ws_scope(), recorder.receive, recorder.send)
        run(send_all(cycle, [ACCEPT, {"type": "websocket.close", "code": code}]))
        assert recorder.sent[-1]["code"] == code


def test_denial_needs_the_extension(caplog: pytest.LogCaptureFixture) -> None:
    scope = ws_scope()
    scope["extensions"] = {}
    cycle = StrictCycle(scope, Recorder().receive, Recorder().send)
    text = violation_of(caplog, cycle, [{"type": "websocket.http.response.start", "status": 403}])
    assert "does not advertise 'websocket.http.response'" in text


def receive_twice(cycle: StrictCycle) -> Any:
    async def app() -> None:
        await cycle.receive()
        await cycle.receive()

    return app()


def test_receive_before_the_handshake_is_answered(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(CONNECT, {"type": "websocket.receive", "text": "x"})
    cycle = StrictCycle(ws_scope(), recorder.receive, recorder.send)
    with caplog.at_level("ERROR", logger="hurtle.error"), pytest.raises(ASGIViolation) as caught:
        run(receive_twice(cycle))
    assert "receive() called again before the handshake was answered" in str(caught.value)
    assert "'Connect - receive event'" in str(caught.value)
    assert f"At {HERE}:" in str(caught.value) and "in app" in str(caught.value)


def test_receive_after_disconnect(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder({"type": "websocket.disconnect", "code": 1000})
    cycle = StrictCycle(ws_scope(), recorder.receive, recorder.send)
    with caplog.at_level("ERROR", logger="hurtle.error"), pytest.raises(ASGIViolation) as caught:
        run(receive_twice(cycle))
    assert "receive() called after websocket.disconnect" in str(caught.value)


def test_http_receive_after_disconnect_is_allowed() -> None:
    # www.rst: http.disconnect is what receive() gives after the response,
    # again and again; long-polling apps rely on it.
    disconnect = {"type": "http.disconnect"}
    recorder = Recorder(disconnect, disconnect)
    cycle = StrictCycle(http_scope(), recorder.receive, recorder.send)
    run(receive_twice(cycle))


# -- lifespan -------------------------------------------------------------------


def test_a_correct_lifespan_passes() -> None:
    recorder = Recorder({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    cycle = StrictCycle({"type": "lifespan"}, recorder.receive, recorder.send)

    async def app() -> None:
        await cycle.receive()
        await cycle.send({"type": "lifespan.startup.complete"})
        await cycle.receive()
        await cycle.send({"type": "lifespan.shutdown.failed", "message": "disk full"})

    run(app())
    assert cycle.state == "stopped"


@pytest.mark.parametrize(
    ("received", "messages", "expected"),
    [
        (0, [{"type": "lifespan.startup.complete"}], "lifespan cycle is waiting"),
        (
            1,
            [{"type": "lifespan.startup.complete"}, {"type": "lifespan.startup.complete"}],
            "lifespan cycle is serving",
        ),
        (1, [{"type": "lifespan.shutdown.complete"}], "lifespan cycle is starting"),
        (1, [{"type": "lifespan.startup.failed", "message": 3}], "'message': must be str"),
        (1, [{"type": "lifespan.startup.done"}], "unknown message type"),
    ],
)
def test_lifespan_violations(
    caplog: pytest.LogCaptureFixture, received: int, messages: list[Message], expected: str
) -> None:
    recorder = Recorder({"type": "lifespan.startup"})
    cycle = StrictCycle({"type": "lifespan"}, recorder.receive, recorder.send)
    if received:
        run(cycle.receive())
    text = violation_of(caplog, cycle, messages)
    assert expected in text
    assert "lifespan.rst" in text


# -- the wrapper --------------------------------------------------------------------


def test_strict_app_wraps_every_cycle_and_passes_others_through() -> None:
    seen: list[tuple[str, Any]] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append((scope["type"], getattr(send, "__self__", None)))

    recorder = Recorder()
    strict = StrictApp(app)
    for kind in ("http", "websocket", "lifespan", "custom"):
        run(strict({"type": kind}, recorder.receive, recorder.send))
    kinds = [(kind, type(owner).__name__) for kind, owner in seen]
    assert kinds == [
        ("http", "StrictCycle"),
        ("websocket", "StrictCycle"),
        ("lifespan", "StrictCycle"),
        ("custom", "Recorder"),
    ]


def test_library_frames_name_the_app_code_that_called_them(
    caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    # A framework installed in site-packages sends for the app: the report
    # names the library's line and the app's own frame further out.
    library = tmp_path / "site-packages" / "framework.py"
    library.parent.mkdir()
    library.write_text(
        "async def respond(send):\n    await send({'type': 'http.response.body', 'body': b'x'})\n",
        encoding="utf-8",
    )
    namespace: dict[str, Any] = {}
    exec(compile(library.read_text(encoding="utf-8"), str(library), "exec"), namespace)
    cycle = StrictCycle(http_scope(), Recorder().receive, Recorder().send)

    async def view() -> None:
        await namespace["respond"](cycle.send)

    with caplog.at_level("ERROR", logger="hurtle.error"), pytest.raises(ASGIViolation) as caught:
        run(view())
    text = str(caught.value)
    assert f"At {library}:2 in respond, called from {HERE}:" in text
    assert "in view" in text
