"""The WebSocket cycle in-process, against a stream that records what reaches it.

asgi/websocket.py draws the cycle's phases (CONNECTING, DENYING, OPEN,
CLOSING, CLOSED); each test here walks one transition (or refuses one) and
checks both the phase and what the connection side was asked to do. No
sockets: the connection (net/websocket.py) is replaced by a
`WebSocketStream` that records its calls; tests/e2e/test_websocket.py
checks the same rules over real sockets with a real client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hurtle.asgi.http_core import PLAIN_TEXT
from hurtle.asgi.types import ClientDisconnected, Message, Receive, Scope, Send
from hurtle.asgi.websocket import Phase, WebSocketCycle
from hurtle.wire.headers import InvalidResponse, ResponseHeaders


class RecordingStream:
    """A WebSocketStream that sends nothing and remembers every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.finished: list[WebSocketCycle] = []
        self.paused: asyncio.Future[None] | None = None

    def accept(self, subprotocol: str | None, headers: Any) -> None:
        self.calls.append(("accept", subprotocol, list(headers)))

    def deny_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> None:
        self.calls.append(("deny", status, headers.pairs, body, more_body))

    def deny_body(self, body: bytes, more_body: bool) -> None:
        self.calls.append(("deny_body", body, more_body))

    def send_message(self, data: str | bytes) -> None:
        self.calls.append(("message", data))

    def close(self, code: int, reason: str) -> None:
        self.calls.append(("close", code, reason))

    def write_paused(self) -> asyncio.Future[None] | None:
        return self.paused

    def resume_reading(self) -> None:
        self.calls.append(("resume_reading",))

    def cycle_finished(self, cycle: WebSocketCycle) -> None:
        self.finished.append(cycle)


def make_cycle(max_queue: int = 16) -> tuple[WebSocketCycle, RecordingStream]:
    stream = RecordingStream()
    scope: Scope = {
        "type": "websocket",
        "raw_path": b"/ws",
        "path": "/ws",
        "query_string": b"",
        "client": ("127.0.0.1", 50000),
        "http_version": "1.1",
    }
    return WebSocketCycle(scope, stream, max_queue), stream


def send(cycle: WebSocketCycle, message: Message) -> None:
    """Run one `send` to its end (outside the app, as a step of a transition)."""
    asyncio.run(cycle.send(message))


def receive(cycle: WebSocketCycle) -> Message:
    return asyncio.run(cycle.receive())


def phase_of(cycle: WebSocketCycle) -> Phase:
    """The phase now (a function, so that mypy does not keep an earlier narrowing)."""
    return cycle.phase


def opened() -> tuple[WebSocketCycle, RecordingStream]:
    cycle, stream = make_cycle()
    assert receive(cycle) == {"type": "websocket.connect"}
    send(cycle, {"type": "websocket.accept"})
    stream.calls.clear()
    return cycle, stream


ACCEPT: Message = {"type": "websocket.accept"}
CLOSE: Message = {"type": "websocket.close"}
DENY_START: Message = {
    "type": "websocket.http.response.start",
    "status": 401,
    "headers": [(b"content-type", b"text/plain")],
}


def deny_body(body: bytes, more: bool = False) -> Message:
    return {"type": "websocket.http.response.body", "body": body, "more_body": more}


# -- CONNECTING ------------------------------------------------------------------------


def test_the_first_receive_is_connect() -> None:
    cycle, stream = make_cycle()
    assert cycle.phase is Phase.CONNECTING
    assert receive(cycle) == {"type": "websocket.connect"}
    assert stream.calls == []
    assert not cycle.handshake_done


def test_connecting_to_open_by_accept() -> None:
    cycle, stream = make_cycle()
    headers = [(b"x-hello", b"1")]
    send(cycle, {"type": "websocket.accept", "subprotocol": "chat", "headers": headers})
    assert cycle.phase is Phase.OPEN
    assert cycle.handshake_done
    assert stream.calls == [("accept", "chat", headers)]


def test_accept_without_subprotocol_or_headers() -> None:
    cycle, stream = make_cycle()
    send(cycle, ACCEPT)
    assert stream.calls == [("accept", None, [])]


def test_connecting_close_before_accept_denies_with_403() -> None:
    """asgiref www.rst: a close before accept is an HTTP 403; the connection is done."""
    cycle, stream = make_cycle()
    send(cycle, {"type": "websocket.close", "code": 1000})
    assert stream.calls == [("deny", 403, PLAIN_TEXT.pairs, b"Forbidden\n", False)]
    assert cycle.handshake_done
    assert cycle.phase is Phase.CLOSED
    receive(cycle)  # websocket.connect
    assert receive(cycle) == {"type": "websocket.disconnect", "code": 1006, "reason": ""}


def test_connecting_to_denying_by_a_denial_response() -> None:
    cycle, stream = make_cycle()
    send(cycle, DENY_START)
    assert cycle.phase is Phase.DENYING
    assert stream.calls == []  # Held until the first body, to go out with it.
    assert not cycle.handshake_done
    send(cycle, deny_body(b"who ", more=True))
    assert stream.calls == [("deny", 401, ((b"content-type", b"text/plain"),), b"who ", True)]
    assert cycle.phase is Phase.DENYING
    assert cycle.handshake_done
    send(cycle, deny_body(b"are you"))
    assert stream.calls[1:] == [("deny_body", b"are you", False)]
    assert cycle.phase is Phase.CLOSED


def test_a_denial_in_one_body_is_one_call() -> None:
    cycle, stream = make_cycle()
    send(cycle, DENY_START)
    send(cycle, deny_body(b"no"))
    assert stream.calls == [("deny", 401, ((b"content-type", b"text/plain"),), b"no", False)]
    assert cycle.phase is Phase.CLOSED
    with pytest.raises(ClientDisconnected):
        send(cycle, deny_body(b"more"))


# -- OPEN, CLOSING, CLOSED -------------------------------------------------------------


def test_messages_flow_both_ways_while_open() -> None:
    cycle, stream = opened()
    send(cycle, {"type": "websocket.send", "text": "hi"})
    send(cycle, {"type": "websocket.send", "bytes": b"\x00\x01"})
    send(cycle, {"type": "websocket.send", "bytes": bytearray(b"ba"), "text": None})
    assert stream.calls == [("message", "hi"), ("message", b"\x00\x01"), ("message", b"ba")]
    assert type(stream.calls[-1][1]) is bytes
    cycle.feed_message("text in")
    cycle.feed_message(b"bytes in")
    assert receive(cycle) == {"type": "websocket.receive", "text": "text in"}
    assert receive(cycle) == {"type": "websocket.receive", "bytes": b"bytes in"}
    assert cycle.phase is Phase.OPEN


def test_open_to_closing_by_close_then_closed_by_the_peer() -> None:
    cycle, stream = opened()
    send(cycle, {"type": "websocket.close", "code": 4000, "reason": "done"})
    assert cycle.phase is Phase.CLOSING
    assert stream.calls == [("close", 4000, "done")]
    # Messages the peer sent before it saw the close are still delivered.
    cycle.feed_message("late")
    assert receive(cycle) == {"type": "websocket.receive", "text": "late"}
    cycle.feed_closed(4000, "done")
    assert phase_of(cycle) is Phase.CLOSED
    assert receive(cycle) == {"type": "websocket.disconnect", "code": 4000, "reason": "done"}


def test_close_without_a_code_is_1000() -> None:
    cycle, stream = opened()
    send(cycle, {"type": "websocket.close", "reason": None})
    assert stream.calls == [("close", 1000, "")]


def test_open_to_closed_by_the_peer() -> None:
    cycle, stream = opened()
    cycle.feed_message("before")
    cycle.feed_closed(1001, "going away")
    assert cycle.phase is Phase.CLOSED
    assert receive(cycle) == {"type": "websocket.receive", "text": "before"}
    disconnect = {"type": "websocket.disconnect", "code": 1001, "reason": "going away"}
    assert receive(cycle) == disconnect
    assert receive(cycle) == disconnect  # Again and again: the app may ask twice.
    cycle.feed_closed(1006, "")  # Only the first close counts.
    assert receive(cycle) == disconnect
    with pytest.raises(ClientDisconnected, match="1001"):
        send(cycle, {"type": "websocket.send", "text": "too late"})
    assert stream.calls == []


def test_a_waiting_receive_is_woken_by_a_message_and_by_the_close() -> None:
    cycle, _ = opened()
    received: list[Message] = []

    async def scenario() -> None:
        waiting = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        assert not waiting.done()
        cycle.feed_message("woken")
        received.append(await waiting)
        waiting = asyncio.ensure_future(cycle.receive())
        await asyncio.sleep(0)
        cycle.feed_closed(1000, "")
        received.append(await waiting)

    asyncio.run(scenario())
    assert received == [
        {"type": "websocket.receive", "text": "woken"},
        {"type": "websocket.disconnect", "code": 1000, "reason": ""},
    ]


def test_send_waits_while_writing_is_paused() -> None:
    cycle, stream = opened()
    order: list[str] = []

    async def scenario() -> None:
        stream.paused = asyncio.get_running_loop().create_future()
        sending = asyncio.ensure_future(cycle.send({"type": "websocket.send", "text": "x"}))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        order.append("sent" if sending.done() else "waiting")
        stream.paused.set_result(None)
        stream.paused = None
        await sending
        order.append("sent")

    asyncio.run(scenario())
    assert order == ["waiting", "sent"]
    assert stream.calls == [("message", "x")]  # Handed over at once; the wait is after.


# -- refused messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "message", "error"),
    [
        ([], {"type": "websocket.send", "text": "x"}, "while the WebSocket is connecting"),
        ([ACCEPT], ACCEPT, "websocket.accept while the WebSocket is open"),
        ([ACCEPT, CLOSE], ACCEPT, "websocket.accept while the WebSocket is closing"),
        ([ACCEPT, CLOSE], {"type": "websocket.send", "text": "x"}, "closing"),
        ([DENY_START], ACCEPT, "websocket.accept while the WebSocket is denying"),
        ([DENY_START], {"type": "websocket.send", "text": "x"}, "denying"),
        ([DENY_START], CLOSE, "close during a denial response"),
        ([DENY_START], DENY_START, "while the WebSocket is denying"),
        ([ACCEPT], DENY_START, "while the WebSocket is open"),
        ([], deny_body(b"x"), "before websocket.http.response.start"),
        ([ACCEPT], deny_body(b"x"), "before websocket.http.response.start"),
        ([], {"type": "websocket.accept", "subprotocol": b"chat"}, "must be a str"),
        ([ACCEPT], {"type": "websocket.send"}, "exactly one of"),
        ([ACCEPT], {"type": "websocket.send", "text": "a", "bytes": b"b"}, "exactly one of"),
        ([ACCEPT], {"type": "websocket.send", "text": b"x"}, "'text' must be str"),
        ([ACCEPT], {"type": "websocket.send", "bytes": "x"}, "'bytes' must be bytes"),
        ([ACCEPT], {"type": "websocket.close", "code": "1000"}, "int 'code'"),
        ([ACCEPT], {"type": "websocket.close", "reason": 5}, "str 'reason'"),
        ([], {"type": "websocket.close", "code": None}, "int 'code'"),
        ([DENY_START], deny_body("text"), "body must be bytes"),  # type: ignore[arg-type]
        ([], {**DENY_START, "status": 101}, "informational"),
        ([], {**DENY_START, "headers": [(b"x", b"a\nb")]}, "CR, LF or NUL"),
        ([ACCEPT], {"type": "http.response.start", "status": 200}, "unexpected ASGI message"),
    ],
)
def test_refused_messages_raise_and_change_nothing(
    before: list[Message], message: Message, error: str
) -> None:
    cycle, stream = make_cycle()
    for earlier in before:
        send(cycle, earlier)
    phase, calls, done = cycle.phase, list(stream.calls), cycle.handshake_done
    with pytest.raises(InvalidResponse, match=error):
        send(cycle, message)
    assert (cycle.phase, stream.calls, cycle.handshake_done) == (phase, calls, done)


# -- the end of the app ------------------------------------------------------------------


def run(cycle: WebSocketCycle, app: Callable[[Receive, Send], Awaitable[None]]) -> None:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await app(receive, send)

    asyncio.run(cycle.run(asgi))


async def fail(receive: Receive, send: Send) -> None:
    await receive()
    raise RuntimeError("boom")


async def fail_after_accept(receive: Receive, send: Send) -> None:
    await send(ACCEPT)
    raise RuntimeError("boom")


async def fail_while_denying(receive: Receive, send: Send) -> None:
    await send(DENY_START)
    await send(deny_body(b"part", more=True))
    raise RuntimeError("boom")


async def invalid_after_accept(receive: Receive, send: Send) -> None:
    await send(ACCEPT)
    await send({"type": "websocket.send", "text": b"not text"})


async def return_at_once(receive: Receive, send: Send) -> None:
    return


async def return_while_open(receive: Receive, send: Send) -> None:
    await send(ACCEPT)


async def return_while_denying(receive: Receive, send: Send) -> None:
    await send(DENY_START)
    await send(deny_body(b"part", more=True))


async def echo_then_close(receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    message = await receive()
    await send({"type": "websocket.send", "text": message["text"]})
    await send({"type": "websocket.close", "code": 1000})


INTERNAL_ERROR = ("deny", 500, PLAIN_TEXT.pairs, b"Internal Server Error\n", False)


@pytest.mark.parametrize(
    ("app", "calls", "phase", "logged"),
    [
        (fail, [INTERNAL_ERROR], Phase.CLOSED, "Exception in ASGI app"),
        (fail_after_accept, [("accept", None, []), ("close", 1011, "")], Phase.CLOSING, "boom"),
        (
            invalid_after_accept,
            [("accept", None, []), ("close", 1011, "")],
            Phase.CLOSING,
            "invalid WebSocket message",
        ),
        (
            fail_while_denying,
            [("deny", 401, DENY_START["headers"], b"part", True), ("close", 1006, "")],
            Phase.DENYING,
            "boom",
        ),
        (return_at_once, [INTERNAL_ERROR], Phase.CLOSED, "without accepting or closing"),
        (return_while_open, [("accept", None, []), ("close", 1000, "")], Phase.CLOSING, ""),
        (
            return_while_denying,
            [("deny", 401, DENY_START["headers"], b"part", True), ("close", 1006, "")],
            Phase.DENYING,
            "without completing its denial",
        ),
    ],
)
def test_how_the_app_ended_decides_the_answer(
    app: Callable[[Receive, Send], Awaitable[None]],
    calls: list[tuple[Any, ...]],
    phase: Phase,
    logged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cycle, stream = make_cycle()
    run(cycle, app)
    expected = [
        (call[0], call[1], tuple(call[2]), *call[3:]) if call[0] == "deny" else call
        for call in calls
    ]
    assert stream.calls == expected
    assert cycle.phase is phase
    assert stream.finished == [cycle]  # Always told, once.
    assert logged in caplog.text


async def fail_with_the_denial_head_held(receive: Receive, send: Send) -> None:
    await send(DENY_START)
    raise RuntimeError("boom")


async def return_with_the_denial_head_held(receive: Receive, send: Send) -> None:
    await send(DENY_START)


@pytest.mark.parametrize("app", [fail_with_the_denial_head_held, return_with_the_denial_head_held])
def test_an_app_that_ends_with_the_denial_head_held_gets_a_500(
    app: Callable[[Receive, Send], Awaitable[None]],
) -> None:
    cycle, stream = make_cycle()
    run(cycle, app)
    assert stream.calls == [INTERNAL_ERROR]


def test_the_app_running_to_its_end() -> None:
    cycle, stream = make_cycle()

    async def scenario() -> None:
        task = asyncio.ensure_future(
            cycle.run(lambda scope, receive, send: echo_then_close(receive, send))
        )
        await asyncio.sleep(0)
        cycle.feed_message("ping")
        await task

    asyncio.run(scenario())
    assert stream.calls == [("accept", None, []), ("message", "ping"), ("close", 1000, "")]
    assert cycle.phase is Phase.CLOSING
    assert stream.finished == [cycle]


@pytest.mark.parametrize("error", [ConnectionResetError, ClientDisconnected])
def test_after_the_peer_closed_the_app_hearing_of_it_is_no_error(
    error: type[Exception], caplog: pytest.LogCaptureFixture
) -> None:
    cycle, stream = opened()

    async def app(receive: Receive, send: Send) -> None:
        cycle.feed_closed(1001, "")
        raise error()

    with caplog.at_level("DEBUG", logger="hurtle.error"):
        run(cycle, app)
    assert stream.calls == []  # No 1011 to a peer that is gone.
    assert "Exception in ASGI app" not in caplog.text
    assert "client disconnected" in caplog.text
    assert stream.finished == [cycle]


def test_a_cancelled_app_is_answered_and_the_cancellation_goes_on() -> None:
    cycle, stream = make_cycle()

    async def scenario() -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send(ACCEPT)
            await asyncio.sleep(3600)

        task = asyncio.ensure_future(cycle.run(app))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert stream.calls == [("accept", None, []), ("close", 1011, "")]
    assert stream.finished == [cycle]


# -- backpressure on received messages --------------------------------------------------


def test_feed_message_says_when_the_queue_is_full_and_receive_resumes_reading() -> None:
    cycle, stream = opened()
    cycle.max_queue = 3
    assert [cycle.feed_message(str(n)) for n in range(3)] == [False, False, True]
    cycle.reading_paused = True  # What the connection does on True (net/websocket.py).
    assert receive(cycle)["text"] == "0"
    assert stream.calls == [("resume_reading",)]  # Below max_queue again.
    assert not cycle.reading_paused
    assert receive(cycle)["text"] == "1"
    assert stream.calls == [("resume_reading",)]  # Once.


def test_receive_does_not_resume_while_the_queue_stays_full() -> None:
    cycle, stream = opened()
    cycle.max_queue = 2
    results = [cycle.feed_message(str(n)) for n in range(4)]
    assert results == [False, True, True, True]
    cycle.reading_paused = True
    assert receive(cycle)["text"] == "0"  # Three left: still at or above max_queue.
    assert receive(cycle)["text"] == "1"  # Two left: still full.
    assert stream.calls == []
    assert receive(cycle)["text"] == "2"
    assert stream.calls == [("resume_reading",)]


def test_receive_does_not_resume_what_was_never_paused() -> None:
    cycle, stream = opened()
    cycle.max_queue = 1
    assert cycle.feed_message(b"x") is True
    receive(cycle)
    assert stream.calls == []
