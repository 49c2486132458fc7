"""WSGI apps (PEP 3333), served as an ASGI 3 app on a bounded pool of threads.

Theory of operation
-------------------
`WSGIAdapter` is an ASGI 3 app wrapping the WSGI app once, at startup, so
every protocol version hurtle speaks serves WSGI through the same cycle. For
each HTTP request it builds the environ on the loop, then hands one job to
the pool: call the app, iterate its response, close it. The whole job runs on
one thread, because frameworks keep per-request state in thread locals
(Django's database connections, for one). Whenever the job needs the loop, to
read the request body or to send response data, it schedules the ASGI
`receive` or `send` coroutine with `run_coroutine_threadsafe` and blocks its
own thread, never the loop, until that finishes. From this:

- `wsgi.input` streams the body as it arrives. A read that needs more data
  blocks its thread until the next `http.request` message; the stream holds
  at most the unread rest of one message, and the HTTP layer stops reading
  the socket above 64 KiB, so an upload is paused at the client rather than
  buffered here.
- Response backpressure: each chunk of the response iterable (and each
  `write()`) is sent, waiting while the transport is paused, before the next
  chunk is pulled. A slow reader slows the iteration down instead of filling
  memory.
- `close()` of the iterable is called in a `finally` on the same thread:
  after the last chunk, after an exception, and after the client went away
  (`send` raises ClientDisconnected, an OSError, and the iteration stops).
- Headers are sent with the first non-empty chunk or at the end of the
  iterable (PEP 3333), so `start_response(..., exc_info)` can still replace
  them until then; a list or tuple response is sent as one body, which gets
  a Content-Length.

The pool has daemon threads, started on demand up to `--wsgi-threads`. A
ThreadPoolExecutor would do the same, but its threads are joined when the
interpreter exits: one view stuck in a blocking call would then keep the
process alive past --timeout-graceful-shutdown. Lifespan shutdown stops the
idle threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from functools import partial
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from hurtle.asgi.types import ClientDisconnected, Message, Receive, Scope, Send
from hurtle.logs import error_log, log_safe

__all__ = ["FileWrapper", "InputStream", "WSGIAdapter", "WorkerThreads", "build_environ"]


T = TypeVar("T")
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class WSGIAdapter:
    """An ASGI 3 app that serves the WSGI app `app` on up to `threads` threads."""

    def __init__(self, app: WSGIApp, *, threads: int, multiprocess: bool = False) -> None:
        self.app = app
        self.threads = WorkerThreads(threads)
        self.multiprocess = multiprocess

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            exchange = _Exchange(asyncio.get_running_loop(), receive, send)
            environ = build_environ(scope, exchange.input, self.multiprocess)
            job = self.threads.submit(exchange.run, self.app, environ)
            for message in await asyncio.wrap_future(job):
                await send(message)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # WSGI has no WebSockets: refuse the handshake (the server answers 403).
            await receive()
            await send({"type": "websocket.close", "code": 1000})
        else:
            raise ValueError(f"a WSGI app cannot serve {kind!r} scopes")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # WSGI has no lifespan; the adapter answers it, and uses shutdown to
        # let its idle threads go.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.threads.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


class WorkerThreads:
    """A bounded pool of daemon threads, started on demand (see the module docstring)."""

    def __init__(self, size: int, name: str = "hurtle-wsgi") -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None
        ] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((lambda: fn(*args), future))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if len(self._threads) < self.size:
                    thread = threading.Thread(
                        target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                    )
                    self._threads.append(thread)
                    thread.start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            del job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn()
                except BaseException as exc:
                    future.set_exception(exc)
                    del exc
                else:
                    future.set_result(result)
                    del result
            del fn, future
            self._idle.release()

    @property
    def started(self) -> int:
        return len(self._threads)

    def shutdown(self) -> None:
        """Let the threads end once their current job is done."""
        with self._lock:
            count = len(self._threads)
            self._threads = []
        for _ in range(count):
            self._jobs.put(None)


async def _send_all(send: Send, messages: list[Message]) -> None:
    for message in messages:
        await send(message)


async def _await(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


class _Exchange:
    """One request on its worker thread: start_response, write, the body stream, the loop hops."""

    __slots__ = (
        "complete",
        "head_sent",
        "headers",
        "input",
        "length",
        "loop",
        "receive",
        "send",
        "sent",
        "status",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive, send: Send) -> None:
        self.loop = loop
        self.receive = receive
        self.send = send
        self.input = InputStream(self._next_message)
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_sent = False
        self.length: int | None = None  # the app's Content-Length
        self.sent = 0
        self.complete = False

    def _in_loop(self, call: Callable[[], Awaitable[T]]) -> T:
        """Await `call()` on the loop, blocking this worker thread (only) until it is done."""
        return asyncio.run_coroutine_threadsafe(_await(call), self.loop).result()

    def _next_message(self) -> Message:
        return self._in_loop(self.receive)

    # -- PEP 3333's callables ------------------------------------------------

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    # Too late to replace the response: re-raise (PEP 3333).
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # No reference cycle through the traceback.
        elif self.status is not None:
            raise RuntimeError("start_response() called a second time without exc_info")
        if type(status) is not str:
            raise TypeError(f"status must be a str like '200 OK', got {status!r}")
        code = status[:3]
        if not (code.isascii() and code.isdigit() and status[3:4] in ("", " ")):
            raise ValueError(f"status must start with a 3-digit code, like '200 OK': {status!r}")
        encoded: list[tuple[bytes, bytes]] = []
        length: int | None = None
        for item in headers:
            if type(item) is not tuple or len(item) != 2:
                raise TypeError(f"each header must be a (name, value) tuple, got {item!r}")
            name, value = item
            if type(name) is not str or type(value) is not str:
                raise TypeError(f"header name and value must be str, got {item!r}")
            try:
                encoded.append((name.lower().encode("latin-1"), value.encode("latin-1")))
            except UnicodeEncodeError:
                raise ValueError(f"header {item!r} is not latin-1 (PEP 3333)") from None
            if name.lower() == "content-length" and value.strip().isdigit():
                length = int(value)  # (a bad value is the HTTP layer's to reject)
        self.status = int(code)
        self.headers = encoded
        self.length = length
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333's write(): send `data` now (with the headers, the first time)."""
        if self.status is None:
            raise RuntimeError("write() called before start_response()")
        if type(data) is not bytes:
            raise TypeError(f"write() takes bytes, got {type(data).__name__}")
        if self.complete and data:
            raise RuntimeError("write() past the Content-Length the app declared")
        if data:
            self._send(data, more_body=True)

    # -- the job on the worker thread ------------------------------------------

    def run(self, app: WSGIApp, environ: dict[str, Any]) -> list[Message]:
        """Call the app and send its response; return the last messages, left to the loop.

        The messages that end the response are not sent from here: the loop
        sends them once this job is done, which saves the thread a round trip
        to the loop (and a wait for the GIL) per request.
        """
        result = app(environ, self.start_response)
        try:
            if type(result) in (list, tuple) and not self.head_sent:
                # A known, finished body: one message, framed with Content-Length.
                return self._send(b"".join(result), more_body=False, last=True)
            for chunk in result:
                if chunk:
                    last = self._send(chunk, more_body=True, last=True)
                    if self.complete:
                        # Content-Length reached: stop iterating (PEP 3333).
                        return last
            return self._send(b"", more_body=False, last=True)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _send(self, body: bytes, more_body: bool, last: bool = False) -> list[Message]:
        """Send a piece of body (with the head, the first time); with `last`, the
        messages that end the response are returned instead, for the loop to send."""
        self.sent += len(body)
        if self.length is not None and self.sent >= self.length:
            # The declared length is reached: this message ends the response,
            # with no extra round trip for an empty last message.
            more_body = False
        if not more_body:
            self.complete = True
        messages: list[Message] = [
            {"type": "http.response.body", "body": body, "more_body": more_body}
        ]
        if not self.head_sent:
            if self.status is None:
                raise RuntimeError("the WSGI app sent a body without calling start_response()")
            self.head_sent = True
            start = {"type": "http.response.start", "status": self.status, "headers": self.headers}
            messages.insert(0, start)
        if last and not more_body:
            return messages
        self._in_loop(partial(_send_all, self.send, messages))
        return []


class InputStream:
    """`wsgi.input`: the request body as it arrives; a read blocks only its own thread.

    `read(n)` returns n bytes unless the body ends first, like a buffered
    file. A client that disconnects before the body is complete makes reads
    raise ClientDisconnected (an OSError), so a truncated upload is never
    mistaken for a complete one.
    """

    __slots__ = ("_data", "_ended", "_next_message", "_position")

    def __init__(self, next_message: Callable[[], Message]) -> None:
        self._next_message = next_message
        self._data = b""
        self._position = 0
        self._ended = False

    def _fill(self) -> bool:
        """Wait for the next piece of body; False at the end of the body."""
        while not self._ended:
            message = self._next_message()
            if message["type"] != "http.request":
                self._ended = True
                raise ClientDisconnected("the client disconnected before the body was complete")
            body = message.get("body", b"")
            if not message.get("more_body", False):
                self._ended = True
            if body:
                self._data = self._data[self._position :] + body
                self._position = 0
                return True
        return False

    def _available(self) -> int:
        return len(self._data) - self._position

    def _take(self, size: int) -> bytes:
        start = self._position
        self._position = min(start + size, len(self._data))
        return self._data[start : self._position]

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._fill():
                pass
            return self._take(self._available())
        while self._available() < size and self._fill():
            pass
        return self._take(size)

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None else size
        searched = 0
        while True:
            newline = self._data.find(b"\n", self._position + searched)
            if newline >= 0:
                length = newline + 1 - self._position
                return self._take(length if limit < 0 else min(length, limit))
            if 0 <= limit <= self._available():
                return self._take(limit)
            searched = self._available()
            if not self._fill():
                return self._take(self._available() if limit < 0 else limit)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class FileWrapper:
    """`wsgi.file_wrapper` (PEP 3333 "Optional Platform-Specific File Handling").

    It reads the file in blocks of at least 64 KiB, whatever the app suggests
    (Django suggests 4 KiB): each block costs one hop to the event loop.
    """

    __slots__ = ("block_size", "filelike")

    def __init__(self, filelike: Any, block_size: int = 8192) -> None:
        self.filelike = filelike
        self.block_size = max(block_size, 65536)

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while block := read(self.block_size):
            yield block

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class ErrorStream:
    """`wsgi.errors`: text written here goes to the hurtle.error logger, one record a line."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            error_log.error("wsgi.errors: %s", log_safe(line))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for text in lines:
            self.write(text)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            error_log.error("wsgi.errors: %s", log_safe(pending))


# CGI names of common request headers (RFC 3875 section 4.1.18); others are
# computed per request, since caching client-chosen names would grow forever.
_CGI_NAMES = {
    name: "HTTP_" + name.decode("ascii").upper().replace("-", "_")
    for name in (
        b"host",
        b"accept",
        b"accept-encoding",
        b"accept-language",
        b"cache-control",
        b"connection",
        b"cookie",
        b"origin",
        b"referer",
        b"user-agent",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-requested-with",
        b"authorization",
        b"if-none-match",
        b"if-modified-since",
    )
}
_CGI_NAMES[b"content-type"] = "CONTENT_TYPE"
_CGI_NAMES[b"content-length"] = "CONTENT_LENGTH"


def build_environ(scope: Scope, body: InputStream, multiprocess: bool) -> dict[str, Any]:
    """The PEP 3333 environ of an ASGI HTTP scope."""
    root_path: str = scope.get("root_path", "")
    script_name = root_path.encode("utf-8")
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path is None:
        path = scope["path"].encode("utf-8")
    else:
        # PATH_INFO is percent-decoded, its bytes read as latin-1 (PEP 3333
        # "native strings"); the framework decodes UTF-8 itself.
        # 0x25 is "%" (an int needle: see asgi/scope.py's split_target).
        path = unquote_to_bytes(raw_path) if 0x25 in raw_path else raw_path
    if script_name and path.startswith(script_name):
        path = path[len(script_name) :]
    scheme: str = scope.get("scheme", "http")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name.decode("latin-1"),
        "PATH_INFO": path.decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
        "SERVER_SOFTWARE": "hurtle",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": body,
        "wsgi.errors": ErrorStream(),
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        # The body ends at EOF even without Content-Length (chunked requests):
        # the de facto extension that tells frameworks to read to the end.
        "wsgi.input_terminated": True,
    }
    if scheme == "https":
        environ["HTTPS"] = "on"
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in scope["headers"]:
        key = _CGI_NAMES.get(name)
        if key is None:
            if 0x5F in name:  # "_", as an int needle (see asgi/scope.py's split_target).
                # "X-User_Id" and "X-User-Id" would both be HTTP_X_USER_ID: a
                # client could pass off its header as one a proxy set. Dropped,
                # as nginx, Apache and gunicorn do.
                continue
            key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key in environ:
            if key == "CONTENT_LENGTH":
                continue  # The HTTP layer accepts repeats only when they are equal.
            # One value per name (RFC 3875 section 4.1.18): field lines are joined
            # with commas (RFC 9110 section 5.3), cookies with "; " (RFC 9113
            # section 8.2.3), since a comma is not a cookie separator.
            environ[key] += ("; " if key == "HTTP_COOKIE" else ", ") + text
        else:
            environ[key] = text
    server = scope.get("server")
    if server and server[1] is not None:
        environ["SERVER_NAME"] = str(server[0])
        environ["SERVER_PORT"] = str(server[1])
    else:
        # A Unix socket: the Host header names the server, if anything does.
        environ["SERVER_NAME"], environ["SERVER_PORT"] = _split_host(
            environ.get("HTTP_HOST", "localhost"), "443" if scheme == "https" else "80"
        )
    return environ


def _split_host(host: str, default_port: str) -> tuple[str, str]:
    """Name and port of a Host header value: 'example.com:81', '[::1]:81', 'example.com'."""
    if host.startswith("["):
        end = host.find("]") + 1
        name, rest = (host[:end], host[end:]) if end else (host, "")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name, port if port.isdigit() else default_port
