"""The HTTP request cycle in-process, against a stream that records what reaches it.

asgi/http_core.py draws the cycle's two state machines; each test here walks
one transition (or refuses one) and checks both the state and what the
protocol side was asked to do. No sockets, no event loop but the one that
runs the app: the same rules hold for every protocol that implements
`ResponseStream`, and tests/e2e/test_http.py checks them over real sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hurtle.asgi.http import HTTPCycle
from hurtle.asgi.http_core import (
    BODY_HIGH_WATER,
    PLAIN_TEXT,
    REQUEST_DELIVERED,
    REQUEST_ENDED,
    REQUEST_RECEIVING,
    RESPONSE_COMPLETE,
    RESPONSE_FAILED,
    RESPONSE_HELD,
    RESPONSE_IDLE,
    RESPONSE_STREAMING,
    RESPONSE_TRAILING,
    HTTPCycleCore,
)
from hurtle.asgi.types import ClientDisconnected, Message, Receive, Scope, Send
from hurtle.wire.headers import InvalidResponse, ResponseHeaders

TEXT = [(b"content-type", b"text/plain")]


class RecordingStream:
    """A ResponseStream that writes nothing and remembers every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.finished: list[HTTPCycleCore] = []

    def send_continue(self) -> None:
        self.calls.append(("continue",))

    def send_early_hint(self, links: ResponseHeaders) -> None:
        self.calls.append(("early_hint", links.pairs))

    def send_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> asyncio.Future[None] | None:
        self.calls.append(("response", status, headers.pairs, body, more_body))
        return None

    def send_body(self, body: bytes, more_body: bool) -> asyncio.Future[None] | None:
        self.calls.append(("body", body, more_body))
        return None

    def send_trailers(self, trailers: ResponseHeaders) -> asyncio.Future[None] | None:
        self.calls.append(("trailers", trailers.pairs))
        return None

    def send_file(self, fd: int, offset: int, count: int) -> asyncio.Future[int] | None:
        self.calls.append(("file", offset, count))
        return None

    def body_consumed(self, size: int) -> None:
        self.calls.append(("consumed", size))

    def response_failed(self) -> None:
        self.calls.append(("reset",))

    def cycle_finished(self, cycle: HTTPCycleCore) -> None:
        self.finished.append(cycle)


def make_cycle(expect_continue: bool = False) -> tuple[HTTPCycle, RecordingStream]:
    stream = RecordingStream()
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "raw_path": b"/",
        "query_string": b"",
        "client": None,
        "http_version": "1.1",
    }
    return HTTPCycle(scope, stream, expect_continue, 0.0), stream


def start(status: int = 200, headers: Any = TEXT) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers}


def body(data: bytes = b"", more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def start_with_trailers(headers: Any = TEXT) -> Message:
    return {**start(headers=headers), "trailers": True}


def trailers(fields: Any, more: bool = False) -> Message:
    return {"type": "http.response.trailers", "headers": fields, "more_trailers": more}


def run(cycle: HTTPCycle, app: Callable[[Receive, Send], Awaitable[None]]) -> None:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await app(receive, send)

    asyncio.run(cycle.run(asgi))


# -- the response side ----------------------------------------------------------------


def test_start_is_checked_and_held_until_the_first_body() -> None:
    cycle, stream = make_cycle()
    assert cycle.response_state == RESPONSE_IDLE
    assert cycle._accept(start()) is None
    assert cycle.response_state == RESPONSE_HELD
    assert stream.calls == []  # Nothing reaches the protocol yet.
    assert not cycle.head_sent


def test_early_hints_go_out_at_once_any_number_of_times_before_the_start() -> None:
    """asgiref extensions.rst, http.response.early_hint: sent as they come, in order;
    after http.response.start one is an app error."""
    cycle, stream = make_cycle()
    hint: Message = {"type": "http.response.early_hint", "links": [b"</a.css>; rel=preload"]}
    assert cycle._accept(hint) is None
    assert cycle._accept(hint) is None
    assert cycle.response_state == RESPONSE_IDLE
    assert stream.calls == [("early_hint", ((b"link", b"</a.css>; rel=preload"),))] * 2
    cycle._accept(start())
    with pytest.raises(InvalidResponse, match=r"early_hint sent after http\.response\.start"):
        cycle._accept(hint)
    assert len(stream.calls) == 2


def test_held_to_complete_sends_head_and_body_together() -> None:
    cycle, stream = make_cycle()
    cycle._accept(start())
    cycle._accept(body(b"hi"))
    assert cycle.response_state == RESPONSE_COMPLETE
    assert stream.calls == [("response", 200, ((b"content-type", b"text/plain"),), b"hi", False)]
    assert cycle.head_sent and cycle.response_complete


def test_held_to_streaming_to_complete() -> None:
    cycle, stream = make_cycle()
    cycle._accept(start())
    cycle._accept(body(b"a", more=True))
    assert cycle.response_state == RESPONSE_STREAMING
    cycle._accept(body(b"b", more=True))
    cycle._accept(body())
    assert cycle.response_state == RESPONSE_COMPLETE
    assert [call[0] for call in stream.calls] == ["response", "body", "body"]
    assert stream.calls[1:] == [("body", b"b", True), ("body", b"", False)]
    assert cycle.app_body_bytes == 2


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        ([body(b"x")], "before http.response.start"),
        ([start(), start()], "sent twice"),
        ([start(), body(b"x"), body(b"y")], "after the response was complete"),
        ([start(), body(b"x"), start()], "sent twice"),
        ([{"type": "http.response.trailers"}], "did not set trailers=True"),
        ([start(), body(b"x"), trailers([])], "did not set trailers=True"),
        ([{"type": "http.response.push", "path": "/"}], "unexpected ASGI message type"),
        ([start(status=103)], "informational"),
        ([start(status=600)], "100 to 599"),
        ([start(status="200")], "100 to 599"),  # type: ignore[arg-type]
        ([start(headers=[(b"x", b"a\r\nb")])], "CR, LF or NUL"),
        ([start(), {"type": "http.response.body", "body": "text"}], "must be bytes"),
    ],
)
def test_refused_transitions_raise_and_change_nothing(sent: list[Message], error: str) -> None:
    cycle, stream = make_cycle()
    *before, last = sent
    for message in before:
        cycle._accept(message)
    state, calls = cycle.response_state, list(stream.calls)
    with pytest.raises(InvalidResponse, match=error):
        cycle._accept(last)
    assert cycle.response_state == state
    assert stream.calls == calls


def test_send_after_disconnect_raises_client_disconnected() -> None:
    cycle, _ = make_cycle()
    cycle.feed_disconnect()
    with pytest.raises(ClientDisconnected):
        cycle._accept(start())
    assert isinstance(ClientDisconnected(), OSError)  # ASGI spec 2.4


# -- trailers (asgiref docs/extensions.rst, "HTTP Trailers") -----------------------------


def test_trailers_keep_the_response_open_after_the_last_body() -> None:
    cycle, stream = make_cycle()
    cycle._accept(start_with_trailers())
    cycle._accept(body(b"hi"))
    assert cycle.response_state == RESPONSE_TRAILING
    # The stream is told more follows: it must not end the response yet.
    assert stream.calls == [("response", 200, ((b"content-type", b"text/plain"),), b"hi", True)]
    assert cycle.head_sent and not cycle.response_complete
    cycle._accept(trailers([(b"grpc-status", b"0")]))
    assert cycle.response_state == RESPONSE_COMPLETE
    assert stream.calls[-1] == ("trailers", ((b"grpc-status", b"0"),))


def test_streamed_body_then_trailers_in_several_messages() -> None:
    cycle, stream = make_cycle()
    cycle._accept(start_with_trailers())
    cycle._accept(body(b"a", more=True))
    cycle._accept(body(b"b"))
    cycle._accept(trailers([(b"x-one", b"1")], more=True))
    assert cycle.response_state == RESPONSE_TRAILING
    # The last body told the stream more follows; the trailers wait for the last message.
    assert stream.calls[1:] == [("body", b"b", True)]
    # Any iterable of pairs, as for headers: a generator too.
    cycle._accept(trailers(pair for pair in [(b"X-Two", b"2")]))
    assert cycle.response_complete
    assert stream.calls[2:] == [("trailers", ((b"x-one", b"1"), (b"x-two", b"2")))]


def test_announced_trailers_may_be_empty() -> None:
    cycle, stream = make_cycle()
    cycle._accept(start_with_trailers())
    cycle._accept(body())
    cycle._accept({"type": "http.response.trailers"})
    assert cycle.response_complete
    assert stream.calls[-1] == ("trailers", ())


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        ([start_with_trailers(), trailers([])], "before the last http.response.body"),
        ([start_with_trailers(), body(b"x", more=True), trailers([])], "before the last"),
        ([start_with_trailers(), body(b"x"), body(b"y")], "after the last body"),
        ([start_with_trailers(), body(), trailers([]), trailers([])], "after the response"),
        ([start_with_trailers(), body(), trailers([(b"content-length", b"1")])], "not allowed"),
        ([start_with_trailers(), body(), trailers([(b"Host", b"x")])], "not allowed"),
        ([start_with_trailers(), body(), trailers([(b"trailer", b"x")])], "not allowed"),
        ([start_with_trailers(), body(), trailers([(b":status", b"200")])], "valid HTTP token"),
        ([start_with_trailers(), body(), trailers([(b"x", b"a\nb")])], "CR, LF or NUL"),
        ([start_with_trailers(), body(), trailers([(b"x", "1")])], "must be bytes"),
        ([start_with_trailers(), body(), trailers(7)], "iterable of pairs"),
    ],
)
def test_refused_trailers_raise_and_change_nothing(sent: list[Message], error: str) -> None:
    cycle, stream = make_cycle()
    *before, last = sent
    for message in before:
        cycle._accept(message)
    state, calls = cycle.response_state, list(stream.calls)
    with pytest.raises(InvalidResponse, match=error):
        cycle._accept(last)
    assert cycle.response_state == state
    assert stream.calls == calls


async def return_before_trailers(receive: Receive, send: Send) -> None:
    await send(start_with_trailers())
    await send(body(b"done"))


async def fail_before_trailers(receive: Receive, send: Send) -> None:
    await return_before_trailers(receive, send)
    raise RuntimeError("boom")


@pytest.mark.parametrize("app", [return_before_trailers, fail_before_trailers])
def test_an_app_that_ends_without_its_trailers_resets_the_stream(
    app: Callable[[Receive, Send], Awaitable[None]], caplog: pytest.LogCaptureFixture
) -> None:
    # The trailers may carry the outcome (gRPC's status): a response without
    # them must not look complete.
    cycle, stream = make_cycle()
    run(cycle, app)
    assert cycle.response_state == RESPONSE_FAILED
    assert stream.calls[-1] == ("reset",)
    assert "trailers it announced" in caplog.text or "Exception in ASGI app" in caplog.text


def test_receive_while_trailing_waits_and_hears_disconnect_after_the_trailers() -> None:
    cycle, _ = make_cycle()
    cycle.feed_end()
    assert cycle._next_message() == {"type": "http.request", "body": b"", "more_body": False}
    cycle._accept(start_with_trailers())
    cycle._accept(body())
    assert cycle._next_message() is None  # The response is not over yet.
    cycle._accept(trailers([]))
    assert cycle._next_message() == {"type": "http.disconnect"}


# -- the end of the app: 500 or reset ----------------------------------------------------


async def fail(receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


async def fail_after_start(receive: Receive, send: Send) -> None:
    await send(start())
    raise RuntimeError("boom")


async def fail_while_streaming(receive: Receive, send: Send) -> None:
    await send(start())
    await send(body(b"part", more=True))
    raise RuntimeError("boom")


async def return_at_once(receive: Receive, send: Send) -> None:
    return


async def return_after_start(receive: Receive, send: Send) -> None:
    await send(start())


async def return_while_streaming(receive: Receive, send: Send) -> None:
    await send(start())
    await send(body(b"part", more=True))


async def respond(receive: Receive, send: Send) -> None:
    await send(start())
    await send(body(b"ok"))


async def fail_after_response(receive: Receive, send: Send) -> None:
    await respond(receive, send)
    raise RuntimeError("boom")


INTERNAL_ERROR = ("response", 500, PLAIN_TEXT.pairs, b"Internal Server Error\n", False)


@pytest.mark.parametrize(
    ("app", "final_state", "last_call"),
    [
        (fail, RESPONSE_COMPLETE, INTERNAL_ERROR),  # IDLE -> hurtle's 500
        (fail_after_start, RESPONSE_COMPLETE, INTERNAL_ERROR),  # HELD: nothing was written
        (fail_while_streaming, RESPONSE_FAILED, ("reset",)),  # STREAMING -> FAILED
        (return_at_once, RESPONSE_COMPLETE, INTERNAL_ERROR),
        (return_after_start, RESPONSE_COMPLETE, INTERNAL_ERROR),
        (return_while_streaming, RESPONSE_FAILED, ("reset",)),
        (
            respond,
            RESPONSE_COMPLETE,
            ("response", 200, ((b"content-type", b"text/plain"),), b"ok", False),
        ),
        (
            fail_after_response,
            RESPONSE_COMPLETE,
            ("response", 200, ((b"content-type", b"text/plain"),), b"ok", False),
        ),
    ],
)
def test_how_the_app_ended_decides_the_answer(
    app: Callable[[Receive, Send], Awaitable[None]],
    final_state: int,
    last_call: tuple[Any, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cycle, stream = make_cycle()
    run(cycle, app)
    assert cycle.response_state == final_state
    assert stream.calls[-1] == last_call
    assert stream.finished == [cycle]  # Always told, once.
    if app in (fail, fail_after_start, fail_while_streaming, fail_after_response):
        assert "Exception in ASGI app" in caplog.text


def test_a_500_is_logged_with_the_status() -> None:
    cycle, _ = make_cycle()
    run(cycle, fail)
    assert cycle.status == 500
    assert cycle.app_body_bytes == len(b"Internal Server Error\n")


@pytest.mark.parametrize("error", [ConnectionResetError, asyncio.CancelledError])
def test_after_a_disconnect_the_app_hearing_of_it_is_no_error(
    error: type[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    cycle, stream = make_cycle()

    async def app(receive: Receive, send: Send) -> None:
        cycle.feed_disconnect()
        raise error()

    with caplog.at_level("DEBUG", logger="hurtle.error"):
        try:
            run(cycle, app)
        except asyncio.CancelledError:
            pass
    assert stream.calls == []  # No 500 to a client that is gone.
    assert "Exception in ASGI app" not in caplog.text
    assert "client disconnected" in caplog.text


# -- the request side ---------------------------------------------------------------


def test_body_pieces_then_the_end() -> None:
    cycle, stream = make_cycle()
    assert cycle.request_state == REQUEST_RECEIVING
    assert cycle._next_message() is None  # Nothing yet: receive() waits.
    cycle.feed_body(b"ab")
    cycle.feed_body(b"cd")
    assert cycle._next_message() == {"type": "http.request", "body": b"abcd", "more_body": True}
    assert stream.calls == [("consumed", 4)]  # Credit for what the app took.
    cycle.feed_body(b"e")
    cycle.feed_end()
    assert cycle.request_state == REQUEST_ENDED
    assert cycle._next_message() == {"type": "http.request", "body": b"e", "more_body": False}
    assert cycle.request_state == REQUEST_DELIVERED
    assert stream.calls == [("consumed", 4), ("consumed", 1)]


def test_an_empty_body_is_one_message_and_no_credit() -> None:
    cycle, stream = make_cycle()
    cycle.feed_end()
    assert cycle._next_message() == {"type": "http.request", "body": b"", "more_body": False}
    assert stream.calls == []


def test_after_the_body_receive_waits_then_says_disconnect() -> None:
    cycle, _ = make_cycle()
    cycle.feed_end()
    cycle._next_message()
    assert cycle._next_message() is None  # Waits: the client is still there.
    cycle._accept(start())
    cycle._accept(body(b"done"))
    # www.rst: receive() after the response was sent gives http.disconnect.
    assert cycle._next_message() == {"type": "http.disconnect"}


def test_disconnect_while_receiving() -> None:
    cycle, _ = make_cycle()
    cycle.feed_body(b"partial")
    cycle.feed_disconnect()
    assert cycle._next_message() == {"type": "http.disconnect"}
    assert cycle.request_state == REQUEST_RECEIVING


def test_body_that_arrived_before_a_disconnect_is_still_delivered_once_complete() -> None:
    cycle, _ = make_cycle()
    cycle.feed_body(b"all")
    cycle.feed_end()
    cycle.feed_disconnect()
    assert cycle._next_message() == {"type": "http.request", "body": b"all", "more_body": False}
    assert cycle._next_message() == {"type": "http.disconnect"}


def test_buffered_body_reports_the_high_water_mark() -> None:
    cycle, _ = make_cycle()
    assert cycle.feed_body(b"x" * BODY_HIGH_WATER) is False
    assert cycle.feed_body(b"x") is True
    assert cycle.body_buffer_full
    cycle._next_message()
    assert not cycle.body_buffer_full


def test_body_after_the_response_is_dropped() -> None:
    cycle, _ = make_cycle()
    cycle._accept(start())
    cycle._accept(body(b"done"))
    assert cycle.feed_body(b"late") is False
    assert cycle._next_message() == {"type": "http.disconnect"}


# -- 100 Continue (RFC 9110 section 10.1.1) ------------------------------------------


def test_expect_continue_is_sent_at_the_first_receive() -> None:
    cycle, stream = make_cycle(expect_continue=True)
    assert stream.calls == []  # Not before the app asks for the body.
    cycle._next_message()
    cycle._next_message()
    assert stream.calls == [("continue",)]  # Once.


def test_no_continue_once_the_app_has_started_its_response() -> None:
    cycle, stream = make_cycle(expect_continue=True)
    cycle._accept(start(status=417, headers=[]))
    cycle._next_message()
    assert ("continue",) not in stream.calls


def test_no_continue_to_a_client_that_is_gone() -> None:
    cycle, stream = make_cycle(expect_continue=True)
    cycle.feed_disconnect()
    cycle._next_message()
    assert stream.calls == []
