"""WebSockets over HTTP/2 (RFC 8441): a WebSocketSession carried by one stream.

Theory of operation
-------------------
hurtle announces SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 when WebSockets are
enabled (wire/h2.py). A client then opens a WebSocket with an extended
CONNECT: `:method CONNECT`, `:protocol websocket`, `:scheme`, `:path`,
`:authority` (RFC 8441 section 4). `H2Connection` hands such a request to
an `H2WebSocketStream` (net/h2.py) and `open_websocket` starts an
`H2WebSocket` session on it:

- the session is net/websocket.py's `WebSocketSession`, the very one that
  runs HTTP/1.1 WebSockets: the same ASGI cycle, frames (wire/ws.py),
  pings, close handshake, limits and shutdown;
- the stream is its carrier: frames go out as DATA within the peer's
  windows (RFC 8441 section 5), the session's orderly close is END_STREAM,
  an abort is RST_STREAM CANCEL; frames in come as DATA, and their window
  goes back to the client as they are read, except while the session holds
  reading (`--ws-max-queue` messages waiting), so a client that outruns its
  app stalls on its own stream's window and nothing else;
- the handshake's success is `:status 200` with the chosen subprotocol and
  extensions (no Sec-WebSocket-Accept: RFC 8441 section 5); a rejection, a
  close before accept (403) or a `websocket.http.response` denial is an
  ordinary HTTP/2 response on the stream.

The stream is over when both sides ended it (END_STREAM each way), or
either reset it, or the connection went; once the app has returned too,
the connection forgets it. After hurtle's END_STREAM a client that has not
ended its side is told to stop with RST_STREAM NO_ERROR (RFC 9113 section
8.1): by then the close handshake is complete, or the connection was failed
(RFC 6455 section 7.1.7: no waiting for the peer), or the answer was HTTP.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from hurtle.asgi.http_core import PLAIN_TEXT
from hurtle.asgi.scope import websocket_scope
from hurtle.asgi.types import Scope
from hurtle.asgi.websocket import WebSocketCycle
from hurtle.logs import error_log, websocket_library_log
from hurtle.net.connection_info import ConnectionInfo
from hurtle.net.state import ServerState
from hurtle.net.websocket import WebSocketSession
from hurtle.wire.headers import ResponseHeaders, check_response_headers
from hurtle.wire.ws import WebSocketWire, parse_subprotocols

__all__ = ["H2WebSocket", "WebSocketH2Stream", "open_websocket"]


class WebSocketH2Stream(Protocol):
    """What the session needs of its stream (net/h2.py's H2WebSocketStream)."""

    def send_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> asyncio.Future[None] | None: ...

    def send_body(self, body: bytes, more_body: bool) -> asyncio.Future[None] | None: ...

    def settle(self) -> None: ...

    def write_paused(self) -> asyncio.Future[None] | None: ...

    def app_finished(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def open_websocket(
    state: ServerState,
    stream: WebSocketH2Stream,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    info: ConnectionInfo,
) -> H2WebSocket:
    """The session of an extended CONNECT with `:protocol websocket`, started."""
    config = state.config
    scope = websocket_scope(
        target,
        "2",
        headers,
        parse_subprotocols(headers),
        info.client,
        info.server,
        info.scheme,
        state.root_path,
        state.lifespan_state,
        info.extensions,
        info.forwarded,
    )
    wire = WebSocketWire(
        "GET",
        target,
        "2",
        headers,
        max_size=config.ws_max_size,
        per_message_deflate=config.ws_per_message_deflate,
        logger=websocket_library_log,
        http2=True,
    )
    session = H2WebSocket(state, stream, wire, target, scope)
    session.start()
    return session


class H2WebSocket(WebSocketSession):
    """The WebSocket session on an HTTP/2 stream: the handshake's HTTP is HTTP/2's."""

    def __init__(
        self,
        state: ServerState,
        stream: WebSocketH2Stream,
        wire: WebSocketWire,
        target: bytes,
        scope: Scope,
    ) -> None:
        super().__init__(state, stream, wire, target, scope, b"")
        self.stream = stream

    def _send_accept(self, subprotocol: str | None, headers: Any) -> None:
        # RFC 8441 section 5: a 2xx answers the extended CONNECT; no Sec-WebSocket-Accept.
        fields = self.wire.accept_fields(subprotocol, headers)
        self.stream.send_response(200, check_response_headers(fields), b"", True)

    def deny_response(
        self, status: int, headers: ResponseHeaders, body: bytes, more_body: bool
    ) -> None:
        if 200 <= status < 300:
            # A 2xx answer to a CONNECT opens the tunnel (RFC 9110 section 9.3.6):
            # over HTTP/2 it cannot deny.
            error_log.error(
                "ASGI app denied a WebSocket with status %d, which over HTTP/2 would accept "
                "it; answering 500",
                status,
            )
            status, headers, body, more_body = 500, PLAIN_TEXT, b"Internal Server Error\n", False
        self.stream.send_response(status, headers, body, more_body)
        self.stream.settle()

    def deny_body(self, body: bytes, more_body: bool) -> None:
        self.stream.send_body(body, more_body)
        self.stream.settle()

    def _answer_http(self, status: int, headers: ResponseHeaders, body: bytes) -> None:
        self.stream.send_response(status, headers, body, False)
        self.stream.settle()

    def write_paused(self) -> asyncio.Future[None] | None:
        return self.stream.write_paused()

    def cycle_finished(self, cycle: WebSocketCycle) -> None:
        super().cycle_finished(cycle)
        self.stream.app_finished()
