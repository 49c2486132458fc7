"""The PROXY protocol (v1 and v2) in front of the HTTP connection.

Theory of operation
-------------------
`ProxyProtocolReader` is the first protocol of every connection when
--proxy-protocol is on. It closes the connection at once if the peer is not
a trusted proxy, reads the PROXY header (wire/proxy_protocol.py) and, once
it is complete, hands the transport to a new HTTP connection made with the
facts from the header (`ConnectionInfo.relayed`), then feeds it the bytes
that followed the header. A malformed header, or none within the timeout,
closes the connection. The HTTP path itself carries no PROXY protocol code
at all.

With --proxy-headers on too, the address from the PROXY header is the peer
that the proxy header trust check looks at (asgi/proxy_headers.py): an
X-Forwarded-For counts only when the connection that the PROXY header
describes comes from a trusted address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, cast

from hurtle.asgi.proxy_headers import ProxySettings
from hurtle.logs import describe_client, error_log, log_safe
from hurtle.net.connection_info import ConnectionInfo
from hurtle.net.state import ServerState
from hurtle.wire.proxy_protocol import ProxyHeader, ProxyHeaderError, parse_proxy_header

__all__ = ["ConnectionMaker", "ProxyProtocolReader", "connection_factory"]


class ConnectionMaker(Protocol):
    """Makes the protocol that serves a connection (H1Connection's constructor)."""

    def __call__(self, state: ServerState, info: ConnectionInfo | None = None) -> Any: ...


# The PROXY protocol spec, section 2: a receiver may give up on a header that
# does not arrive "within a few seconds (at least 3 seconds to cover a TCP
# retransmit)".
MIN_HEADER_TIMEOUT = 3.0


def connection_factory(state: ServerState, make: ConnectionMaker) -> Callable[[], asyncio.Protocol]:
    """The protocol factory for `loop.create_server`: `make(state)`, behind a
    ProxyProtocolReader when --proxy-protocol is on."""
    proxy = state.proxy
    if proxy is not None and proxy.protocol:
        return lambda: ProxyProtocolReader(state, proxy, make)
    # H1Connection is a protocol by its methods, not by class (mypyc: connection.py).
    return lambda: cast(asyncio.Protocol, make(state))


class ProxyProtocolReader(asyncio.Protocol):
    """The first protocol of a --proxy-protocol connection: reads the PROXY header."""

    def __init__(self, state: ServerState, proxy: ProxySettings, make: ConnectionMaker) -> None:
        self.state = state
        self.proxy = proxy
        self.make = make
        self.transport: asyncio.Transport | None = None
        self.peer = "unix socket"
        self.unix = False
        self._buffer = b""
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer: Any = transport.get_extra_info("peername")
        self.unix = isinstance(transport.get_extra_info("sockname"), str | bytes)
        host = peer[0] if isinstance(peer, tuple) else None
        if peer is None and not self.unix:
            # A TCP peer that reset the connection before it reached us has no
            # address left (HAProxy's health checks end with a reset): there is
            # nothing to serve, and it was no untrusted peer.
            transport.close()
            return
        if isinstance(peer, tuple):
            self.peer = describe_client((peer[0], peer[1]))
        if not self.proxy.peer_trusted(host, self.unix):
            # The spec, section 2: only trusted proxies may use the protocol;
            # anyone else could claim any address.
            error_log.info(
                "closed a connection from %s: not a trusted proxy (--forwarded-allow-ips) "
                "and --proxy-protocol is on",
                self.peer,
            )
            transport.close()
            return
        self.state.connections.add(self)
        timeout = max(self.state.keep_alive_timeout, MIN_HEADER_TIMEOUT)
        self._timer = self.state.loop.call_later(timeout, self._timed_out)

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._buffer += data
        try:
            header = parse_proxy_header(self._buffer)
        except ProxyHeaderError as exc:
            error_log.info("closed a connection from %s: %s", self.peer, log_safe(str(exc)))
            self._stop()
            transport.close()
            return
        if header is not None:
            self._hand_over(transport, header)

    def eof_received(self) -> bool | None:
        self._stop()
        return None  # The transport closes itself.

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()

    # -- server control ------------------------------------------------------

    def shutdown(self) -> None:
        """Graceful shutdown: no request has started yet, so close now."""
        self._stop()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self._stop()
        if self.transport is not None:
            self.transport.abort()

    # -- internals -----------------------------------------------------------

    def _stop(self) -> None:
        self.state.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        error_log.info("closed a connection from %s: no complete PROXY header in time", self.peer)
        self.shutdown()

    def _hand_over(self, transport: asyncio.Transport, header: ProxyHeader) -> None:
        self._stop()
        rest = self._buffer[header.length :]
        self._buffer = b""
        own = ConnectionInfo.of_transport(transport, self.proxy)
        connection = self.make(self.state, own.relayed(header, self.proxy))
        transport.set_protocol(cast(asyncio.Protocol, connection))
        connection.connection_made(transport)
        if rest and not transport.is_closing():
            connection.data_received(rest)
