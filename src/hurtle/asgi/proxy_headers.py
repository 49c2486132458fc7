"""Proxy headers: whether a connection's peer is a trusted proxy, and what its headers say.

`ProxySettings` (one per server, `ServerState.proxy`; None when neither
--proxy-headers nor --proxy-protocol is on) decides once per connection
whether its peer is a trusted proxy (`headers_from`). A connection whose
peer is not trusted, or a server with --no-proxy-headers, pays one `is None`
check per request and nothing else. For a trusted peer, `apply` reads the
proxy headers (wire/forwarded.py) while the scope is built and sets its
`client`, `scheme` and, with --forwarded-host, its `host` header: the same
for every protocol, which is why this lives beside the scope, not in net/.

The PROXY protocol, which names the peer before any HTTP, is net/proxy.py's.
"""

from __future__ import annotations

from hurtle.asgi.types import Scope
from hurtle.config import Config
from hurtle.wire.forwarded import (
    Forwarded,
    TrustedPeers,
    read_forwarded,
    read_x_forwarded,
)

__all__ = ["ProxySettings"]

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
