"""The ASGI HTTP request/response cycle, written once for every HTTP version.

Theory of operation
-------------------
The connection (net/) creates one `HTTPCycle` per request and feeds it what
the client sends: `feed_body`, `feed_end`, `feed_disconnect`. The app pulls
those through `receive()` and answers through `send()`, which hands checked
response data to its `ResponseStream`: the protocol-specific part, which
only frames what the cycle checked (HTTP/1.1 lines, HTTP/2 frames).

Rules kept here, so every protocol gets them alike (asgiref specs/www.rst):
- `http.response.start` is checked when it arrives and held back until the
  first body message, so a response sent as start + one body is one write;
- an app exception before the head went out becomes a 500; after it, the
  stream is reset (HTTP/1.1: the connection is aborted), since a truncated
  response must never look complete; an app that returns early is treated
  alike (asgi/http_core.py draws the states);
- request body is credit: each piece the app takes is reported to the
  stream (`body_consumed`), which lets the client send more (HTTP/1.1:
  resume reading; HTTP/2: WINDOW_UPDATE);
- after the client disconnected `receive()` returns `http.disconnect` and
  `send()` raises ClientDisconnected (spec 2.4).

The state and every step that does not await live in `HTTPCycleCore`
(asgi/http_core.py), which setup.py compiles; the coroutines stay here,
interpreted (that module says why).
"""

from __future__ import annotations

from hurtle.asgi.http_core import (
    SERVICE_UNAVAILABLE_BODY,
    SERVICE_UNAVAILABLE_HEADERS,
    HTTPCycleCore,
)
from hurtle.asgi.running import RunsApp
from hurtle.asgi.types import ClientDisconnected, Message, Receive, Scope, Send

__all__ = ["HTTPCycle", "service_unavailable"]


class HTTPCycle(HTTPCycleCore, RunsApp):
    __slots__ = ()

    async def receive(self) -> Message:
        while True:
            message = self._next_message()
            if message is not None:
                return message
            await self._new_waiter()

    async def send(self, message: Message) -> None:
        paused = self._accept(message)
        if paused is not None:
            await paused
            if self.disconnected and not self.response_complete:
                raise ClientDisconnected("the client disconnected")


async def service_unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    """The app served instead of the real one past --limit-concurrency (RFC 9110 15.6.4).

    Here, not in net/connection.py: that module is compiled (setup.py), and
    compiled modules define no coroutine (asgi/http_core.py says why).
    """
    start: Message = {
        "type": "http.response.start",
        "status": 503,
        "headers": SERVICE_UNAVAILABLE_HEADERS,
    }
    await send(start)
    await send({"type": "http.response.body", "body": SERVICE_UNAVAILABLE_BODY})
