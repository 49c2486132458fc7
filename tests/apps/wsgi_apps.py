"""WSGI (PEP 3333) and ASGI 2 apps for tests/asgi/test_wsgi.py.

`EVENTS` records what happened inside the app (close() calls, errors that
start_response raised) so that a test can look at it: directly when the
server runs in-process, through `/events` when it is a subprocess.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from apps.basic import serve_lifespan
from hurtle.asgi.types import Message, Receive, Scope, Send

StartResponse = Callable[..., Callable[[bytes], None]]
Environ = dict[str, Any]

EVENTS: list[str] = []
# Set by a test to let `/block` return.
RELEASE = threading.Event()
# Files opened by `/file`, to see that they were closed.
FILES: list[Any] = []
# How many chunks `/flood` has produced so far.
PRODUCED = [0]


def _json(start_response: StartResponse, data: Any, status: str = "200 OK") -> list[bytes]:
    body = json.dumps(data).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class Recorded:
    """A response iterable that records its close() (PEP 3333: always called)."""

    def __init__(self, name: str, chunks: Iterable[bytes]) -> None:
        self.name = name
        self.chunks = iter(chunks)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self.chunks)

    def close(self) -> None:
        EVENTS.append(f"closed {self.name}")


def _flood(size: int, count: int) -> Iterator[bytes]:
    chunk = b"x" * size
    for _ in range(count):
        PRODUCED[0] += 1
        yield chunk


def _read_pieces(stream: Any, mode: str) -> list[str]:
    pieces: list[bytes]
    if mode == "read":
        pieces = [stream.read()]
    elif mode == "read-n":
        pieces = []
        while piece := stream.read(4):
            pieces.append(piece)
    elif mode == "readline":
        pieces = []
        while line := stream.readline():
            pieces.append(line)
    elif mode == "readline-n":
        pieces = [stream.readline(3), stream.readline(100), stream.read()]
    elif mode == "iter":
        pieces = list(stream)
    elif mode == "readlines":
        pieces = stream.readlines()
    else:
        raise ValueError(mode)
    return [p.decode("latin-1") for p in pieces]


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """One route per behaviour the tests look at."""
    path = environ["PATH_INFO"]
    query = environ["QUERY_STRING"]
    if path == "/environ" or path.endswith("/environ"):
        stream, errors = environ["wsgi.input"], environ["wsgi.errors"]
        return _json(
            start_response,
            {
                **{k: v for k, v in environ.items() if isinstance(v, str)},
                "wsgi.version": list(environ["wsgi.version"]),
                "wsgi.multithread": environ["wsgi.multithread"],
                "wsgi.multiprocess": environ["wsgi.multiprocess"],
                "wsgi.run_once": environ["wsgi.run_once"],
                "wsgi.input_terminated": environ["wsgi.input_terminated"],
                "input methods": [
                    m for m in ("read", "readline", "readlines", "__iter__") if hasattr(stream, m)
                ],
                "errors methods": [
                    m for m in ("write", "writelines", "flush") if hasattr(errors, m)
                ],
                "body": stream.read().decode("latin-1"),
            },
        )
    if path == "/read":
        return _json(start_response, _read_pieces(environ["wsgi.input"], query))
    if path == "/slow-body":
        # Answer the first line of the body before the rest has arrived.
        stream = environ["wsgi.input"]
        first = stream.readline()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Recorded("slow-body", _slow_body(first, stream))
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        write(b"")
        write(b"then ")
        return [b"returned"]
    if path == "/replace-before-sent":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("the view failed")
        except ValueError:
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"replaced by the error page"]
    if path == "/replace-after-sent":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"partial")
        try:
            raise ValueError("the view failed late")
        except ValueError:
            try:
                start_response("500 Internal Server Error", [], sys.exc_info())
            except ValueError as exc:
                EVENTS.append(f"re-raised {exc}")
                raise
        return [b"never sent"]
    if path == "/twice":
        start_response("200 OK", [])
        try:
            start_response("201 Created", [])
        except RuntimeError as exc:
            EVENTS.append(f"refused: {exc}")
            raise
        return [b"never sent"]
    if path == "/no-start":
        return [b"body without start_response"]
    if path == "/raise":
        raise KeyError("boom")
    if path == "/closing":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Recorded("closing", [b"one ", b"", b"two"])
    if path == "/empty-generator":
        start_response("204 No Content", [("X-Note", "no body")])
        return Recorded("empty", [])
    if path == "/flood":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Recorded("flood", _flood(256 * 1024, 4000))
    if path == "/block":
        EVENTS.append("blocking")
        released = RELEASE.wait(20)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Recorded("block", [b"released" if released else b"timed out"])
    if path == "/sleep":
        EVENTS.append("sleeping")
        time.sleep(float(query or "30"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept"]
    if path == "/errors":
        environ["wsgi.errors"].write("first line\nsecond ")
        environ["wsgi.errors"].writelines(["line\n", "tail"])
        environ["wsgi.errors"].flush()
        start_response("200 OK", [])
        return [b"logged"]
    if path == "/thread":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [threading.current_thread().name.encode()]
    if path == "/file":
        # A file served through wsgi.file_wrapper; closing the wrapper closes the file.
        handle = open(__file__, "rb")  # noqa: SIM115
        EVENTS.append("opened")
        start_response("200 OK", [("Content-Type", "text/x-python")])
        wrapper: Iterable[bytes] = environ["wsgi.file_wrapper"](handle, 1024)
        FILES.append(handle)
        return wrapper
    if path == "/events":
        return _json(start_response, EVENTS)
    if path == "/bad-header":
        start_response("200 OK", [("X-Snowman", "\u2603")])
        return [b"never sent"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def _slow_body(first: bytes, stream: Any) -> Iterator[bytes]:
    yield b"first line: " + first
    yield b"rest: " + stream.read()


def star_args(*args: Any) -> Iterable[bytes]:
    """A WSGI app whose signature says nothing (a decorator's wrapper, say)."""
    _environ, start_response = args
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"star"]


# -- ASGI 2 ------------------------------------------------------------------------


class ASGI2App:
    """ASGI 2 in its class form: instantiated with the scope, then awaited with (receive, send)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        if self.scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
        await send(start)
        text = f"asgi2 class {self.scope['method']} {self.scope['path']} {body.decode()}"
        await send({"type": "http.response.body", "body": text.encode()})


def asgi2_function(scope: Scope) -> Callable[[Receive, Send], Any]:
    """ASGI 2 in its function form: app(scope) returns the coroutine function."""

    async def instance(receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError("no lifespan here")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi2 function"})

    return instance
