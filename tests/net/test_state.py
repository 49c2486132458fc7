"""ServerState in-process: what every connection of one server shares.

net/state.py keeps the default header block (rebuilt once a second, never
per request), the request counters and the 503 past --limit-concurrency,
the registry of app tasks for the graceful shutdown, and the one flush per
turn of the loop. Each test here checks one of those rules on a real
ServerState and a real event loop (a fresh one per test); the e2e suite
checks their effect over real sockets.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
from collections.abc import Coroutine
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from clock_loop import ClockLoop
from hurtle.asgi.http import service_unavailable
from hurtle.asgi.types import Receive, Scope, Send
from hurtle.config import Config
from hurtle.net.state import ServerState


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The app the state hands out when there is capacity (never run here)."""


def make_state(loop: ClockLoop, **options: Any) -> ServerState:
    return ServerState(Config(**options), app, loop)


# -- the default header block --------------------------------------------------------


def date_of(block: bytes) -> bytes:
    (line,) = [line for line in block.split(b"\r\n") if line.startswith(b"date: ")]
    return line[len(b"date: ") :]


def test_default_block_is_server_then_date_then_the_header_options_in_order(
    loop: ClockLoop,
) -> None:
    state = make_state(loop, header=["X-Zeta: last", "x-alpha: first"])
    lines = state.default_block.split(b"\r\n")
    assert lines[0] == b"server: hurtle"
    assert lines[1].startswith(b"date: ")
    # --header names are sent lower-case, in the order given (not sorted).
    assert lines[2:] == [b"x-zeta: last", b"x-alpha: first", b""]
    assert state.default_names == {b"server", b"date", b"x-zeta", b"x-alpha"}


def test_the_date_is_an_imf_fixdate_of_now(loop: ClockLoop) -> None:
    before = int(time.time())
    state = make_state(loop)
    after = time.time()
    value = date_of(state.default_block)
    assert value.endswith(b" GMT")  # RFC 9110 section 5.6.7: IMF-fixdate.
    assert before <= parsedate_to_datetime(value.decode()).timestamp() <= after


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"server_header": False}, [b"date", b"x-a"]),
        ({"date_header": False}, [b"server", b"x-a"]),
        ({"server_header": False, "date_header": False}, [b"x-a"]),
    ],
)
def test_server_and_date_can_be_turned_off(
    loop: ClockLoop, options: dict[str, Any], expected: list[bytes]
) -> None:
    state = make_state(loop, header=["x-a: 1"], **options)
    names = [line.split(b":")[0] for line in state.default_block.split(b"\r\n") if line]
    assert names == expected
    assert [name for name, _ in state.default_fields(frozenset())] == expected


@pytest.mark.parametrize(
    ("app_set", "expected"),
    [
        (set(), [b"server", b"date", b"x-a", b"x-b"]),
        ({b"content-type"}, [b"server", b"date", b"x-a", b"x-b"]),
        ({b"server"}, [b"date", b"x-a", b"x-b"]),
        ({b"date"}, [b"server", b"x-a", b"x-b"]),
        ({b"x-a", b"server"}, [b"date", b"x-b"]),
        ({b"server", b"date", b"x-a", b"x-b"}, []),
    ],
)
def test_names_the_app_set_are_left_out_and_the_order_kept(
    loop: ClockLoop, app_set: set[bytes], expected: list[bytes]
) -> None:
    state = make_state(loop, header=["x-a: 1", "x-b: 2"])
    block = state.defaults_without(app_set)
    assert [line.split(b":")[0] for line in block.split(b"\r\n") if line] == expected
    fields = state.default_fields(frozenset(app_set))
    assert [name for name, _ in fields] == expected


def test_default_fields_are_the_block_as_pairs(loop: ClockLoop) -> None:
    """HTTP/2 gets the same defaults as HTTP/1.1, as HPACK pairs (no ": ", no CRLF)."""
    state = make_state(loop, header=["x-a: 1", "x-empty:", "x-colon: a: b"])
    fields = state.default_fields(frozenset())
    assert fields == [
        (b"server", b"hurtle"),
        (b"date", date_of(state.default_block)),
        (b"x-a", b"1"),
        (b"x-empty", b""),
        (b"x-colon", b"a: b"),
    ]
    as_lines = b"".join(b"%s: %s\r\n" % pair for pair in fields)
    assert as_lines == state.default_block


# -- the date, once a second ----------------------------------------------------------


def test_tick_rebuilds_the_block_once_a_second(loop: ClockLoop) -> None:
    state = make_state(loop)
    state.default_block = b"stale"
    loop.spin()
    assert state.default_block == b"stale"  # Not per turn, nor per request.
    before = int(time.time())
    loop.advance(1.0)
    after = time.time()
    assert state.default_block.startswith(b"server: hurtle\r\ndate: ")
    stamp = parsedate_to_datetime(date_of(state.default_block).decode()).timestamp()
    assert before <= stamp <= after
    state.default_block = b"stale again"
    loop.advance(1.0)  # And again the second after.
    assert state.default_block != b"stale again"


def test_stop_ticking_stops_the_rebuilds(loop: ClockLoop) -> None:
    state = make_state(loop)
    state.stop_ticking()
    state.default_block = b"stale"
    loop.advance(5.0)
    assert state.default_block == b"stale"


# -- counting requests, and the 503 past --limit-concurrency ---------------------------


def test_app_for_request_counts_and_request_finished_uncounts(loop: ClockLoop) -> None:
    state = make_state(loop)
    assert state.app_for_request() is app
    assert state.app_for_request() is app
    assert (state.active_requests, state.total_requests) == (2, 2)
    state.request_finished(None)
    assert (state.active_requests, state.total_requests) == (1, 2)


def test_past_limit_concurrency_the_503_app_answers(loop: ClockLoop) -> None:
    state = make_state(loop, limit_concurrency=2)
    assert [state.app_for_request() for _ in range(3)] == [app, app, service_unavailable]
    # The 503 is a request too: counted, and uncounted when it is done.
    assert (state.active_requests, state.total_requests) == (3, 3)
    state.request_finished(None)
    state.request_finished(None)
    assert state.app_for_request() is app


def test_past_limit_concurrency_in_open_connections_the_503_app_answers(
    loop: ClockLoop,
) -> None:
    state = make_state(loop, limit_concurrency=1)

    class Idle:
        def shutdown(self) -> None: ...

        def abort(self) -> None: ...

    state.connections.update([Idle(), Idle()])
    assert state.app_for_request() is service_unavailable


def test_without_limit_concurrency_there_is_no_503(loop: ClockLoop) -> None:
    state = make_state(loop)
    assert all(state.app_for_request() is app for _ in range(1000))
    assert not state.over_capacity()


async def service_unavailable_answer() -> list[Any]:
    sent: list[Any] = []

    async def receive() -> Any:
        raise AssertionError("the 503 app reads nothing")

    async def send(message: Any) -> None:
        sent.append(message)

    await service_unavailable({"type": "http"}, receive, send)
    return sent


def test_the_503_app_answers_with_retry_after(loop: ClockLoop) -> None:
    start, body = loop.run_until_complete(service_unavailable_answer())
    assert start["status"] == 503
    assert (b"retry-after", b"1") in start["headers"]
    assert body == {"type": "http.response.body", "body": b"Service Unavailable\n"}


# -- starting apps: the task registry ------------------------------------------------


def test_a_task_started_lazily_is_registered_until_request_finished(loop: ClockLoop) -> None:
    state = make_state(loop)
    ran: list[str] = []

    async def cycle() -> None:
        ran.append("ran")

    async def start() -> asyncio.Task[None] | None:
        task = state.start_app(cycle(), False)
        assert ran == []  # Not before the loop gets to it.
        return task

    task = loop.run_until_complete(start())
    assert task is not None
    assert state.tasks == {task}  # Done, but registered until request_finished.
    loop.spin()
    assert ran == ["ran"]
    state.app_for_request()
    state.request_finished(task)
    assert state.tasks == set()
    assert state.active_requests == 0


def test_running_tasks_prunes_a_task_cancelled_before_it_ran(loop: ClockLoop) -> None:
    state = make_state(loop)

    async def cycle() -> None:
        raise AssertionError("never runs")

    async def start_and_cancel() -> asyncio.Task[None] | None:
        task = state.start_app(cycle(), False)
        assert task is not None
        task.cancel()
        return task

    task = loop.run_until_complete(start_and_cancel())
    loop.spin()
    assert task is not None and task.cancelled()
    assert task in state.tasks  # Nothing removed it...
    assert state.running_tasks() == set()  # ...but it is not running.
    assert state.tasks == set()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are Python 3.12+")
def test_an_eager_app_done_at_once_is_not_registered(loop: ClockLoop) -> None:
    state = make_state(loop)
    gate = asyncio.Event()
    ran: list[str] = []

    async def done_at_once() -> None:
        ran.append("at once")

    async def waits() -> None:
        ran.append("waits")
        await gate.wait()

    async def start() -> tuple[object, object]:
        done = state.start_app(done_at_once(), True)
        assert ran == ["at once"]  # Ran before start_app returned.
        waiting = state.start_app(waits(), True)
        assert ran == ["at once", "waits"]
        return done, waiting

    done, waiting = loop.run_until_complete(start())
    assert done is None
    assert isinstance(waiting, asyncio.Task)
    assert state.tasks == {waiting}
    gate.set()
    loop.spin()
    assert state.running_tasks() == set()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.11 has no eager tasks")
def test_on_python_3_11_eager_start_falls_back_to_a_task(loop: ClockLoop) -> None:
    state = make_state(loop)
    ran: list[str] = []

    async def done_at_once() -> None:
        ran.append("ran")

    async def start() -> asyncio.Task[None] | None:
        task = state.start_app(done_at_once(), True)
        assert ran == []
        return task

    task = loop.run_until_complete(start())
    assert task is not None and state.tasks == {task}
    loop.spin()
    assert ran == ["ran"]
    assert state.running_tasks() == set()


@pytest.mark.parametrize("eagerly", [False, True])
def test_every_app_task_starts_from_a_fresh_copy_of_the_app_context(
    loop: ClockLoop, eagerly: bool
) -> None:
    """A pipelined request is started from inside the task of the one before it: its
    context variables must not leak into the next (net/state.py, __init__)."""
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="unset")
    state = make_state(loop)
    seen: list[str] = []

    async def second() -> None:
        seen.append(variable.get())

    async def first() -> None:
        variable.set("first request")
        state.start_app(second(), eagerly)

    def start(coroutine: Coroutine[Any, Any, None]) -> None:
        async def inside() -> None:
            state.start_app(coroutine, eagerly)

        loop.run_until_complete(inside())

    start(first())
    loop.spin()
    assert seen == ["unset"]
    assert state.app_context.get(variable, "unset") == "unset"


# -- one flush per turn ---------------------------------------------------------------


class RecordingConnection:
    def __init__(self, name: str, flushed: list[str]) -> None:
        self.name = name
        self.flushed = flushed

    def flush(self) -> None:
        self.flushed.append(self.name)


def test_flush_soon_schedules_one_call_per_turn_for_many_connections(loop: ClockLoop) -> None:
    state = make_state(loop)
    flushed: list[str] = []
    connections = [RecordingConnection(name, flushed) for name in "abcde"]
    loop.soon.clear()
    for connection in connections:
        state.flush_soon(connection)
    assert len(loop.soon) == 1  # One call_soon, not one per connection.
    assert flushed == []  # At the end of the turn, not at once.
    loop.spin()
    assert flushed == list("abcde")  # Each once, in the order they asked.
    # The next turn starts afresh.
    loop.soon.clear()
    state.flush_soon(connections[0])
    assert len(loop.soon) == 1
    loop.spin()
    assert flushed == [*"abcde", "a"]


def test_a_connection_that_asks_during_the_flush_is_flushed_next_turn(loop: ClockLoop) -> None:
    state = make_state(loop)
    flushed: list[str] = []
    late = RecordingConnection("late", flushed)

    class AsksAgain(RecordingConnection):
        def flush(self) -> None:
            super().flush()
            state.flush_soon(late)

    state.flush_soon(AsksAgain("first", flushed))
    loop.spin()
    assert flushed == ["first", "late"]
