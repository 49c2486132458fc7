"""Proxies in front of hurtle: proxy headers in the scope, and the PROXY protocol.

Theory of operation
-------------------
`ProxySettings` (one per server, `ServerState.proxy`; None when neither
--proxy-headers nor --proxy-protocol is on) decides once per connection
whether its peer is a trusted proxy (`headers_from`). A connection whose
peer is not trusted, or a server with --no-proxy-headers, pays one `is None`
check per request and nothing else. For a trusted peer, `apply` reads the
proxy headers (wire/forwarded.py) while the scope is built and sets its
`client`, `scheme` and, with --forwarded-host, its `host` header.

`ProxyProtocolReader` is the first protocol of every connection when
--proxy-protocol is on. It closes the connection at once if the peer is not
trusted, reads the PROXY header (wire/proxy_protocol.py) and, once it is
complete, hands the transport to the HTTP connection with the addresses
from the header, then feeds it the bytes that followed the header. A
malformed header, or none within the timeout, closes the connection. The
HTTP path itself carries no PROXY protocol code at all.

With both on, the address from the PROXY header is the peer that the proxy
header trust check looks at: an X-Forwarded-For counts only when the
connection that the PROXY header describes comes from a trusted address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from hurtle.asgi.types import Scope
from hurtle.config import Config
from hurtle.logs import log_safe
from hurtle.wire.forwarded import (
    Forwarded,
    TrustedPeers,
    read_forwarded,
    read_x_forwarded,
)
from hurtle.wire.proxy_protocol import ProxyHeader, ProxyHeaderError, parse_proxy_header

if TYPE_CHECKING:
    from hurtle.net.connection import H1Connection
    from hurtle.net.state import ServerState

__all__ = ["ProxyProtocolReader", "ProxySettings", "connection_factory"]

error_log = logging.getLogger("hurtle.error")

# The PROXY protocol spec, section 2: a receiver may give up on a header that
# does not arrive "within a few seconds (at least 3 seconds to cover a TCP
# retransmit)".
MIN_HEADER_TIMEOUT = 3.0
_TRUST_CACHE_SIZE = 1024
_HTTPS = frozenset({"https", "wss"})
_X_FORWARDED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"})


class ProxySettings:
    """--proxy-headers, --forwarded-allow-ips, --proxy-headers-style, --forwarded-host and
    --proxy-protocol of one server."""

    def __init__(self, config: Config) -> None:
        self.trusted = TrustedPeers(config.forwarded_allow_ips)
        self.headers = config.proxy_headers
        self.protocol = config.proxy_protocol
        self.rfc7239 = config.proxy_headers_style == "forwarded"
        self.use_host = config.forwarded_host
        self._trust_cache: dict[str, bool] = {}
        self._names = frozenset({b"forwarded"}) if self.rfc7239 else _X_FORWARDED

    @classmethod
    def from_config(cls, config: Config) -> ProxySettings | None:
        if not (config.proxy_headers or config.proxy_protocol):
            return None
        return cls(config)

    def peer_trusted(self, host: str | None, unix: bool) -> bool:
        """Whether the peer of a connection is a trusted proxy (cached by address)."""
        if unix or host is None:
            return self.trusted.trusts_peer(host, unix)
        found = self._trust_cache.get(host)
        if found is None:
            if len(self._trust_cache) >= _TRUST_CACHE_SIZE:
                self._trust_cache.clear()
            found = self._trust_cache[host] = self.trusted.trusts_peer(host, False)
        return found

    def headers_from(self, client: tuple[str, int] | None, unix: bool) -> ProxySettings | None:
        """Self when the proxy headers of a connection from `client` count, else None."""
        if self.headers and self.peer_trusted(client[0] if client else None, unix):
            return self
        return None

    def read(self, headers: list[tuple[bytes, bytes]]) -> Forwarded | None:
        """What the proxy headers of a request say (the peer is known to be trusted)."""
        names = self._names
        for name, _ in headers:
            if name in names:
                break
        else:
            return None  # The usual case for a local client: one pass, no allocation.
        if self.rfc7239:
            lines = [value for name, value in headers if name == b"forwarded"]
            return read_forwarded(lines, self.trusted) if lines else None
        for_values: list[bytes] = []
        proto_values: list[bytes] = []
        host_values: list[bytes] = []
        for name, value in headers:
            if name not in _X_FORWARDED:
                continue
            if name == b"x-forwarded-for":
                for_values.append(value)
            elif name == b"x-forwarded-proto":
                proto_values.append(value)
            elif name == b"x-forwarded-host" and self.use_host:
                host_values.append(value)
        if not (for_values or proto_values or host_values):
            return None
        return read_x_forwarded(for_values, proto_values, host_values, self.trusted)

    def apply(self, scope: Scope) -> None:
        """Set the scope's client, scheme and (with --forwarded-host) host header."""
        forwarded = self.read(scope["headers"])
        if forwarded is None:
            return
        if forwarded.client is not None:
            scope["client"] = forwarded.client
        elif forwarded.client_unknown:
            scope["client"] = None  # RFC 7239 section 6.3/6.4: unknown or obfuscated.
        if forwarded.scheme is not None:
            secure = forwarded.scheme in _HTTPS
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = "https" if secure else "http"
        if forwarded.host is not None and self.use_host:
            scope["headers"] = _with_host(scope["headers"], forwarded.host)


def _with_host(headers: list[tuple[bytes, bytes]], host: bytes) -> list[tuple[bytes, bytes]]:
    """A copy of the headers with `host` as the Host header (the parser's list is left alone)."""
    replaced = [(name, host if name == b"host" else value) for name, value in headers]
    if not any(name == b"host" for name, _ in headers):
        replaced.insert(0, (b"host", host))
    return replaced


def connection_factory(
    state: ServerState, make: Callable[[ServerState], H1Connection]
) -> Callable[[], asyncio.Protocol]:
    """The protocol factory for `loop.create_server`: `make(state)`, behind a
    ProxyProtocolReader when --proxy-protocol is on."""
    proxy = state.proxy
    if proxy is not None and proxy.protocol:
        return lambda: ProxyProtocolReader(state, proxy, lambda: make(state))
    # H1Connection is a protocol by its methods, not by class (mypyc: connection.py).
    return lambda: cast(asyncio.Protocol, make(state))


class ProxyProtocolReader(asyncio.Protocol):
    """The first protocol of a --proxy-protocol connection: reads the PROXY header."""

    def __init__(
        self, state: ServerState, proxy: ProxySettings, make: Callable[[], H1Connection]
    ) -> None:
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
        if isinstance(peer, tuple):
            self.peer = f"{peer[0]}:{peer[1]}"
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
        connection = self.make()
        transport.set_protocol(cast(asyncio.Protocol, connection))
        connection.connection_made(transport)
        if not header.local:
            # The relayed connection's addresses replace the proxy's own, also
            # as the peer whose proxy headers may count.
            connection.client = header.client
            connection.server = header.server
            connection.forwarded = self.proxy.headers_from(header.client, header.unix)
            if header.tls:
                connection.scheme = "https"  # A PP2_TYPE_SSL TLV: TLS ended at the proxy.
        if rest and not transport.is_closing():
            connection.data_received(rest)
