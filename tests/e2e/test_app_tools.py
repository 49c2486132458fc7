"""The tools for app authors through a real hurtle: --asgi-strict and --blocking-warn-after.

Strict mode: a violation is one error naming the rule, the spec's section
and the app's line (this file), and the client gets hurtle's answer to an
app that fails: a 500 before the head, a cut response after it, close 1011
on an open WebSocket, a failed startup for lifespan. Off, the app is served
as loaded (nothing wraps it). tests/asgi/test_strict.py has every rule.

Blocking detection: an async view that sleeps with time.sleep() is reported
once, while it blocks, with its method and path and the line that blocks;
on both loops. The rate limit is tested on LoopWatchdog itself, with a real
loop and a short period; the workers' side in tests/supervise/test_workers.py.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hurtle import Config, Server
from hurtle.asgi.strict import StrictApp
from hurtle.asgi.types import Receive, Scope, Send
from hurtle.net.blocking import LoopWatchdog
from support import InProcessServer, raw_request, wait_for

Serve = Callable[..., InProcessServer]
HERE = __file__


def violations(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hurtle.error" and r.levelname == "ERROR"
    ]


# -- --asgi-strict ---------------------------------------------------------------


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_off_the_app_is_served_as_loaded() -> None:
    """The cost when off is none by construction: nothing stands between hurtle and the app."""
    assert Config().asgi_strict is False
    assert Server(ok_app, Config()).load() is ok_app
    strict = Server(ok_app, Config(asgi_strict=True)).load()
    assert isinstance(strict, StrictApp) and strict.app is ok_app


VIEW_LINE = 0


async def memoryview_body_app(scope: Scope, receive: Receive, send: Send) -> None:
    global VIEW_LINE
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    VIEW_LINE = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
    await send({"type": "http.response.body", "body": memoryview(b"ok")})


@pytest.mark.parametrize("http2", [False, True], ids=["HTTP/1.1", "HTTP/2"])
def test_violation_before_the_head_is_one_error_and_a_500(
    serve_app: Serve, caplog: pytest.LogCaptureFixture, http2: bool
) -> None:
    server = serve_app(memoryview_body_app, asgi_strict=True)
    with (
        caplog.at_level("ERROR", logger="hurtle.error"),
        httpx.Client(http1=not http2, http2=http2, timeout=10) as client,
    ):
        response = client.get(server.url + "/page?x=1")
        wait_for(lambda: bool(violations(caplog)))
        time.sleep(0.1)  # Room for a second error, were there one.
    assert response.status_code == 500
    [error] = violations(caplog)
    assert error.startswith("ASGI violation in GET /page: http.response.body 'body': ")
    assert "must be bytes, got memoryview" in error
    assert "(asgiref specs/www.rst, 'Response Body - send event')" in error
    assert error.endswith(f"At {HERE}:{VIEW_LINE} in memoryview_body_app")


def test_without_strict_the_same_app_is_served(serve_app: Serve) -> None:
    server = serve_app(memoryview_body_app)
    response = httpx.get(server.url + "/page")
    assert response.status_code == 200 and response.text == "ok"


async def upper_case_header_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        start = {"type": "http.response.start", "status": 200, "headers": [(b"X-Upper", b"1")]}
        await send(start)
        await send({"type": "http.response.body", "body": b"ok"})


def test_upper_case_header_names_are_served_and_reported_once(
    serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve_app(upper_case_header_app, asgi_strict=True)
    with caplog.at_level("ERROR", logger="hurtle.error"), httpx.Client(timeout=10) as client:
        for _ in range(3):
            response = client.get(server.url + "/")
            assert response.status_code == 200 and response.headers["x-upper"] == "1"
    [error] = violations(caplog)
    assert "names must be lowercased, got b'X-Upper'" in error
    assert "in upper_case_header_app" in error and "reported once for this line" in error


async def text_chunk_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    await send({"type": "http.response.body", "body": bytearray(b"more"), "more_body": False})


def test_violation_after_the_head_cuts_the_response(
    serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve_app(text_chunk_app, asgi_strict=True)
    with caplog.at_level("ERROR", logger="hurtle.error"):
        reply = raw_request(server.port, b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        wait_for(lambda: bool(violations(caplog)))
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b"7\r\npartial\r\n"  # No last chunk: the client sees it cut short.
    [error] = violations(caplog)
    assert "'body': must be bytes, got bytearray" in error
    assert f"At {HERE}:" in error and "in text_chunk_app" in error


async def bad_close_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await receive()
    await send({"type": "websocket.close", "code": 1006})


def test_websocket_violation_closes_with_1011(
    serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve_app(bad_close_app, asgi_strict=True)

    async def client() -> int:
        async with connect(server.url.replace("http://", "ws://") + "/ws") as ws:
            await ws.send("hello")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            return info.value.rcvd.code

    with caplog.at_level("ERROR", logger="hurtle.error"):
        assert asyncio.run(asyncio.wait_for(client(), 20)) == 1011
        wait_for(lambda: bool(violations(caplog)))
    [error] = violations(caplog)
    assert error.startswith("ASGI violation in WebSocket /ws: websocket.close 'code': 1006 ")
    assert "RFC 6455 section 7.4" in error and "in bad_close_app" in error


async def eager_lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await send({"type": "lifespan.startup.complete"})  # Before receiving lifespan.startup.
        await receive()


def test_lifespan_violation_fails_startup(loop_name: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("ERROR", logger="hurtle.error"), pytest.raises(RuntimeError):
        InProcessServer(eager_lifespan_app, loop_name, asgi_strict=True, lifespan="on").stop()
    [error] = violations(caplog)
    assert "ASGI violation in lifespan: lifespan.startup.complete sent while" in error
    assert "lifespan.rst" in error and "in eager_lifespan_app" in error


# -- --blocking-warn-after ---------------------------------------------------------

BLOCKING_LINE = 0


async def blocking_app(scope: Scope, receive: Receive, send: Send) -> None:
    global BLOCKING_LINE
    if scope["type"] != "http":
        return
    if scope["path"] == "/sync-orm":
        BLOCKING_LINE = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        time.sleep(0.8)  # noqa: ASYNC251 - a blocking call in an async view is the point
    elif scope["path"] == "/awaits":
        await asyncio.sleep(0.8)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hurtle.error" and r.levelname == "WARNING" and "blocked" in r.getMessage()
    ]


def test_a_blocking_view_is_reported_while_it_blocks(
    serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve_app(blocking_app, blocking_warn_after=0.3)
    with caplog.at_level("WARNING", logger="hurtle.error"):
        response = httpx.get(server.url + "/sync-orm?id=3", timeout=10)
        answered = time.time()
    assert response.status_code == 200
    [warning] = warnings_of(caplog)
    assert "event loop blocked for " in warning
    assert "serving GET /sync-orm (pid " in warning
    assert f'File "{HERE}", line {BLOCKING_LINE}, in blocking_app' in warning
    assert "time.sleep(0.8)" in warning
    # The app's entry is the first frame shown: none of hurtle's or asyncio's.
    assert warning.split("(most recent call last):\n", 1)[1].startswith(f'  File "{HERE}"')
    # Taken while it blocked: the record came before the response.
    [record] = [r for r in caplog.records if r.getMessage() == warning]
    assert record.created < answered - 0.3
    assert record.thread != threading.get_ident()


def test_no_warning_for_fast_or_awaiting_apps(
    serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve_app(blocking_app, blocking_warn_after=0.3)
    with caplog.at_level("WARNING", logger="hurtle.error"), httpx.Client(timeout=10) as client:
        for _ in range(50):
            assert client.get(server.url + "/fast").status_code == 200
        assert client.get(server.url + "/awaits").status_code == 200
    assert warnings_of(caplog) == []


def test_disabled_watches_nothing(serve_app: Serve, caplog: pytest.LogCaptureFixture) -> None:
    assert Config().blocking_warn_after == 0.5  # On by default.
    server = serve_app(blocking_app, blocking_warn_after=None)
    with caplog.at_level("WARNING", logger="hurtle.error"):
        assert httpx.get(server.url + "/sync-orm", timeout=10).status_code == 200
    assert warnings_of(caplog) == []
    assert not any(t.name == "hurtle-blocking-watchdog" for t in threading.enumerate())


def test_the_watchdog_stops_with_the_server(loop_name: Any) -> None:
    server = InProcessServer(ok_app, loop_name, blocking_warn_after=0.2)
    wait_for(lambda: any(t.name == "hurtle-blocking-watchdog" for t in threading.enumerate()))
    server.stop()
    wait_for(lambda: not any(t.name == "hurtle-blocking-watchdog" for t in threading.enumerate()))


def test_rate_limit_counts_what_it_did_not_report(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> LoopWatchdog:
        watchdog = LoopWatchdog(asyncio.get_running_loop(), 0.2, report_every=2.0)
        watchdog.start()
        try:
            for _ in range(3):  # Three blocks within the period: one warning.
                time.sleep(0.5)  # noqa: ASYNC251 - blocking the loop is the point
                await asyncio.sleep(0.15)
            assert watchdog.reported == 1 and watchdog.suppressed == 2
            await asyncio.sleep(2.0)
            time.sleep(0.5)  # noqa: ASYNC251 - the period is over: reported, with the count
            await asyncio.sleep(0.15)
            return watchdog
        finally:
            watchdog.stop()

    with caplog.at_level("WARNING", logger="hurtle.error"):
        watchdog = asyncio.run(main())
    first, second = warnings_of(caplog)
    assert watchdog.reported == 2 and watchdog.suppressed == 0
    # Outside any app: a plain callback of the loop (here, the test's own task).
    assert "serving no request (a loop callback outside any app)" in first
    assert "more block(s)" not in first
    assert "(2 more block(s) since the last warning not reported)" in second
    assert "time.sleep(0.5)" in second
