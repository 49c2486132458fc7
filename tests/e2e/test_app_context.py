"""What an app sees of its task: asyncio.current_task(), contextvars, anyio and sniffio.

Requests read from the socket run in a task of their own; pipelined requests
replayed behind a response are started eagerly (Python 3.12+), from inside
the code that finished the response before them, and the request cycle may
be a compiled coroutine (setup.py). None of that may show: each app runs in
a real asyncio Task, with a context of its own that starts from the server's
context, never from the previous request's, and anyio's cancel scopes work.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import socket
from collections.abc import Callable
from typing import Any

import anyio
import sniffio

from apps.basic import read_body
from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, parse_responses, read_to_eof

Serve = Callable[..., InProcessServer]

SET_BY_APP: contextvars.ContextVar[str] = contextvars.ContextVar("set_by_app", default="unset")


async def context_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    task = asyncio.current_task()
    seen = SET_BY_APP.get()
    SET_BY_APP.set(scope["path"])  # Must not reach the next request.

    async def nested() -> str:
        return SET_BY_APP.get()

    with anyio.move_on_after(0.01) as scope_timer:
        await anyio.sleep(5)
    report = {
        "task": type(task).__name__ if task is not None else None,
        "is_task": isinstance(task, asyncio.Task),
        "library": sniffio.current_async_library(),
        "seen_at_start": seen,
        "nested_sees": await nested(),
        "cancel_scope_fired": scope_timer.cancelled_caught,
    }
    await read_body(receive)
    body = json.dumps(report).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def quick_context_app(scope: Scope, receive: Receive, send: Send) -> None:
    """No await before the response: a replayed request finishes inside its eager start."""
    if scope["type"] != "http":
        return
    seen = SET_BY_APP.get()
    SET_BY_APP.set(scope["path"])
    task = asyncio.current_task()
    body = json.dumps({"seen_at_start": seen, "is_task": isinstance(task, asyncio.Task)})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body.encode()})


def pipelined(port: int, paths: list[str]) -> list[dict[str, Any]]:
    """Send the requests in one write (the last one closes), read every response."""
    requests = [b"GET %s HTTP/1.1\r\nHost: a\r\n" % path.encode() for path in paths]
    requests[-1] += b"Connection: close\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(requests) + b"\r\n")
        data = read_to_eof(sock)
    responses, rest = parse_responses(data, ["GET"] * len(paths))
    assert rest == b"" and len(responses) == len(paths)
    return [json.loads(response.body) for response in responses]


def test_each_request_runs_in_a_real_task_with_anyio_working(serve_app: Serve) -> None:
    server = serve_app(context_app)
    for report in pipelined(server.port, ["/a", "/b", "/c"]):
        assert report == {
            "task": report["task"],
            "is_task": True,
            "library": "asyncio",
            "seen_at_start": "unset",
            "nested_sees": report["nested_sees"],
            "cancel_scope_fired": True,
        }
    assert [r["nested_sees"] for r in pipelined(server.port, ["/x", "/y"])] == ["/x", "/y"]


def test_pipelined_requests_do_not_inherit_the_previous_requests_context(
    serve_app: Serve,
) -> None:
    server = serve_app(quick_context_app)
    reports = pipelined(server.port, [f"/{n}" for n in range(8)])
    assert [r["seen_at_start"] for r in reports] == ["unset"] * 8
    assert all(r["is_task"] for r in reports)
