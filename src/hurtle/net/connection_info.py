"""What a connection is known by before its first byte: addresses, scheme, TLS, proxy trust."""

from __future__ import annotations

import asyncio
from typing import Any

from hurtle.asgi.proxy_headers import ProxySettings
from hurtle.net.listen import tls_extension
from hurtle.wire.proxy_protocol import ProxyHeader

__all__ = ["ConnectionInfo"]


class ConnectionInfo:
    """The facts of one connection that every request's scope repeats.

    Read from the transport (`of_transport`), or rebuilt from the PROXY
    header a trusted proxy sent (`relayed`), and handed to the HTTP
    connection, which copies them once: nothing outside a connection writes
    into it.
    """

    __slots__ = ("alpn", "client", "extensions", "forwarded", "scheme", "server")

    def __init__(
        self,
        client: tuple[str, int] | None,
        server: tuple[str, int | None] | None,
        scheme: str,
        extensions: dict[str, Any],
        forwarded: ProxySettings | None,
        alpn: str | None = None,
    ) -> None:
        self.client = client
        self.server = server
        self.scheme = scheme
        # The scope's `extensions`: http.response.trailers, and tls on a TLS connection.
        self.extensions = extensions
        # Set when the peer is a trusted proxy and --proxy-headers is on.
        self.forwarded = forwarded
        # The protocol TLS negotiated with ALPN ("h2", "http/1.1"), if any.
        self.alpn = alpn

    @classmethod
    def of_transport(
        cls, transport: asyncio.BaseTransport, proxy: ProxySettings | None
    ) -> ConnectionInfo:
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        client = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        server: tuple[str, int | None] | None = None
        if isinstance(sock, tuple):
            server = (sock[0], sock[1])
        elif isinstance(sock, str) and sock:
            server = (sock, None)
        scheme = "http"
        extensions: dict[str, Any] = {}
        alpn = None
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            scheme = "https"
            extensions["tls"] = tls_extension(ssl_object)
            alpn = ssl_object.selected_alpn_protocol()
        forwarded = None
        if proxy is not None:
            forwarded = proxy.headers_from(client, isinstance(sock, str | bytes))
        return cls(client, server, scheme, extensions, forwarded, alpn)

    def relayed(self, header: ProxyHeader, proxy: ProxySettings) -> ConnectionInfo:
        """The connection that a PROXY header describes, in place of the proxy's own.

        Its client is also the peer whose proxy headers may count. A
        LOCAL header (the proxy's own health check) relays nothing.
        """
        if header.local:
            return self
        # A PP2_TYPE_SSL TLV: TLS ended at the proxy.
        scheme = "https" if header.tls else self.scheme
        return ConnectionInfo(
            header.client,
            header.server,
            scheme,
            self.extensions,
            proxy.headers_from(header.client, header.unix),
            self.alpn,
        )
