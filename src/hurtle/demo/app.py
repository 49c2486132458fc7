"""The demo app: a raw ASGI 3 app (stdlib only) that shows hurtle at work.

`hurtle` with no APP argument serves it. Every endpoint shows one thing a
server does:

    GET  /         an HTML page that links everything and shows /sse live
    GET  /text     a plain text response sent in one piece (Content-Length)
    GET  /json     a JSON document
    GET  /stream   a body sent in several pieces (chunked transfer coding)
    GET  /sse      server-sent events: ?count=N events, ?interval=seconds apart
    ANY  /request  the request as the app received it, echoed as JSON

Any other path is a 404; a known path with a method it does not accept is a
405 with an `allow` header (RFC 9110 section 15.5.6). HEAD is accepted
wherever GET is: the server leaves the body out (RFC 9110 section 9.3.2).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from hurtle import __version__
from hurtle.asgi.types import Message, Receive, Scope, Send
from hurtle.demo.page import PAGE

__all__ = ["app"]

Headers = Sequence[tuple[bytes, bytes]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"
HTML = b"text/html; charset=utf-8"

STREAM_CHUNKS = 5
STREAM_PAUSE = 0.1  # seconds between /stream chunks: about 0.4 s in all

SSE_COUNT = 10
SSE_MAX_COUNT = 100
SSE_INTERVAL = 0.5
SSE_MAX_INTERVAL = 30.0

# /request reads any body to its end but keeps only this much of it to show,
# so a large upload costs the demo no memory.
ECHO_BODY_PREFIX = 4096

SAFE = ("GET", "HEAD")


# -- sending ---------------------------------------------------------------


async def respond(
    send: Send, status: int, body: bytes, content_type: bytes = TEXT, headers: Headers = ()
) -> None:
    """Send a whole response as one start and one body message."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, document: Any, status: int = 200) -> None:
    body = json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n"
    await respond(send, status, body, JSON)


async def start_stream(send: Send, content_type: bytes, headers: Headers = ()) -> None:
    """Start a response of unknown length: HTTP/1.1 sends it chunked."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type), *headers],
        }
    )


async def end_stream(send: Send) -> None:
    await send({"type": "http.response.body", "body": b"", "more_body": False})


# -- receiving -------------------------------------------------------------


async def wait_disconnect(receive: Receive) -> None:
    """Return once the client has gone; any request body is read and dropped."""
    while (await receive())["type"] != "http.disconnect":
        pass


def query_number(scope: Scope, name: str, default: float, low: float, high: float) -> float:
    """A number from the query string, clamped to [low, high]; ValueError if malformed."""
    values = parse_qs(scope["query_string"].decode("latin-1")).get(name)
    if not values:
        return default
    number = float(values[-1])
    if number != number:  # NaN: compares false with everything, so clamping misses it.
        raise ValueError(f"{name} is not a number")
    return min(max(number, low), high)


# -- endpoints -------------------------------------------------------------


async def index(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, 200, PAGE, HTML)


async def text(scope: Scope, receive: Receive, send: Send) -> None:
    await respond(send, 200, b"Hello from hurtle!\n")


async def json_document(scope: Scope, receive: Receive, send: Send) -> None:
    document: dict[str, Any] = {
        "message": "Hello from hurtle!",
        "server": "hurtle",
        "version": __version__,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    started = scope.get("state", {}).get("demo_started")
    if isinstance(started, float):  # Set by lifespan startup, when lifespan runs.
        document["uptime"] = round(time.monotonic() - started, 3)
    await respond_json(send, document)


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    await start_stream(send, TEXT)
    if scope["method"] != "HEAD":
        for number in range(1, STREAM_CHUNKS + 1):
            if number > 1:
                await asyncio.sleep(STREAM_PAUSE)
            chunk = f"chunk {number} of {STREAM_CHUNKS}\n".encode()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await end_stream(send)


async def server_sent_events(scope: Scope, receive: Receive, send: Send) -> None:
    """A bounded event stream (the HTML living standard, section 9.2).

    A task watches for the client going away, so a closed tab stops the
    stream at once rather than at the next event it would fail to send.
    """
    try:
        count = int(query_number(scope, "count", SSE_COUNT, 1, SSE_MAX_COUNT))
        interval = query_number(scope, "interval", SSE_INTERVAL, 0.0, SSE_MAX_INTERVAL)
    except ValueError:
        await respond(send, 400, b"count and interval must be numbers\n")
        return
    await start_stream(send, b"text/event-stream", [(b"cache-control", b"no-cache")])
    if scope["method"] == "HEAD":
        await end_stream(send)
        return
    gone = asyncio.ensure_future(wait_disconnect(receive))
    try:
        for number in range(1, count + 1):
            if number > 1:
                await asyncio.wait({gone}, timeout=interval)
                if gone.done():
                    return
            data = json.dumps(
                {
                    "n": number,
                    "of": count,
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                }
            )
            event = f"id: {number}\ndata: {data}\n\n".encode()
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await end_stream(send)
    except OSError:
        return  # The client went away mid-send (ASGI HTTP spec 2.4): nothing to finish.
    finally:
        gone.cancel()


async def echo_request(scope: Scope, receive: Receive, send: Send) -> None:
    size = 0
    prefix = bytearray()
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if len(prefix) < ECHO_BODY_PREFIX:
            prefix += chunk[: ECHO_BODY_PREFIX - len(prefix)]
        more_body = message.get("more_body", False)
    client, server = scope.get("client"), scope.get("server")
    query_string = scope["query_string"].decode("latin-1")
    await respond_json(
        send,
        {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": (scope.get("raw_path") or b"").decode("latin-1"),
            "query_string": query_string,
            "query": parse_qsl(query_string, keep_blank_values=True),
            "http_version": scope["http_version"],
            "scheme": scope.get("scheme", "http"),
            "client": list(client) if client else None,
            "server": list(server) if server else None,
            "root_path": scope.get("root_path", ""),
            "asgi": scope.get("asgi", {}),
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
            "body": {
                "length": size,
                "text": bytes(prefix).decode("utf-8", errors="replace"),
                "truncated": size > len(prefix),
            },
        },
    )


# path -> (methods it accepts, handler)
ROUTES: dict[str, tuple[tuple[str, ...], Handler]] = {
    "/": (SAFE, index),
    "/text": (SAFE, text),
    "/json": (SAFE, json_document),
    "/stream": (SAFE, stream),
    "/sse": (SAFE, server_sent_events),
    "/request": ((*SAFE, "POST"), echo_request),
}


# -- the app -----------------------------------------------------------------


def route_path(scope: Scope) -> str:
    """The path below the app's mount point: ASGI's `path` includes `root_path`."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :] or "/"
    return path


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    route = ROUTES.get(route_path(scope))
    if route is None:
        await respond(send, 404, b"Not Found\n")
        return
    methods, handler = route
    if scope["method"] not in methods:
        allow = ", ".join(methods).encode()
        await respond(send, 405, b"Method Not Allowed\n", headers=[(b"allow", allow)])
        return
    await handler(scope, receive, send)


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "lifespan.startup":
            if "state" in scope:  # Lifespan state is optional in the spec.
                scope["state"]["demo_started"] = time.monotonic()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class ChatRoom:
    """Everyone connected to /chat; each text message goes to all of them."""

    MAX_TEXT = 1000

    def __init__(self) -> None:
        self.members: dict[int, Send] = {}
        self._next_id = 1

    def join(self, send: Send) -> int:
        member = self._next_id
        self._next_id += 1
        self.members[member] = send
        return member

    def leave(self, member: int) -> None:
        self.members.pop(member, None)

    async def broadcast(self, document: dict[str, Any]) -> None:
        text = json.dumps(document)
        for member, send in list(self.members.items()):
            try:
                await send({"type": "websocket.send", "text": text})
            except OSError:  # That member has gone; its own loop removes it.
                self.leave(member)


ROOM = ChatRoom()


async def websocket(scope: Scope, receive: Receive, send: Send) -> None:
    """/chat: a tiny chat room over WebSocket; any other path is refused (403)."""
    if (await receive())["type"] != "websocket.connect":
        return
    if route_path(scope) != "/chat":
        await send({"type": "websocket.close"})
        return
    await send({"type": "websocket.accept"})
    member = ROOM.join(send)
    name = f"guest-{member}"
    try:
        await ROOM.broadcast({"kind": "joined", "from": name, "online": len(ROOM.members)})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                break
            text = message.get("text")
            if text is None:
                continue  # The room speaks text only.
            await ROOM.broadcast({"kind": "message", "from": name, "text": text[: ROOM.MAX_TEXT]})
    finally:
        ROOM.leave(member)
        await ROOM.broadcast({"kind": "left", "from": name, "online": len(ROOM.members)})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        await http(scope, receive, send)
    elif kind == "lifespan":
        await lifespan(scope, receive, send)
    elif kind == "websocket":
        await websocket(scope, receive, send)
    else:
        raise ValueError(f"the hurtle demo does not handle {kind!r} scopes")
