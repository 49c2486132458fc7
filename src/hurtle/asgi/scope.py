"""The ASGI scope of a request, built in one place for every protocol.

HTTP/1.1 and HTTP/2 requests and WebSocket upgrades all come here with what
their protocol parsed (method, target, version, headers) and what their
connection knows (addresses, scheme, extensions, proxy trust). The scope is
one plain dict literal (asgiref specs/www.rst): the app gets no helper
object, and this module is compiled by setup.py (it runs once per request).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

import httptools

from hurtle.asgi.proxy_headers import ProxySettings
from hurtle.asgi.types import HTTP_ASGI, WEBSOCKET_ASGI, Scope

__all__ = ["http_extensions", "http_scope", "split_target", "websocket_scope"]


def http_extensions(connection_extensions: dict[str, Any]) -> dict[str, Any]:
    """The `extensions` of every HTTP request on a connection (asgiref extensions.rst).

    The connection's own (`tls`) plus the response extensions hurtle serves
    on HTTP/1.1 and HTTP/2 alike; built once per connection.
    """
    return {
        **connection_extensions,
        "http.response.trailers": {},
        "http.response.early_hint": {},
        "http.response.pathsend": {},
        "http.response.zerocopysend": {},
    }


def http_scope(
    method: str,
    target: bytes,
    http_version: str,
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    scheme: str,
    root_path: str,
    lifespan_state: dict[str, Any],
    extensions: dict[str, Any],
    forwarded: ProxySettings | None,
) -> Scope:
    """The scope of an HTTP request (asgiref www.rst, "HTTP Connection Scope").

    `lifespan_state` is copied: each request gets a shallow copy of what the
    lifespan startup put there (asgiref lifespan.rst, "Lifespan State").
    `forwarded` is set when the peer is a trusted proxy: its headers then
    say who the client is (asgi/proxy_headers.py).
    """
    path, raw_path, query = split_target(target, root_path)
    scope: Scope = {
        "type": "http",
        "asgi": HTTP_ASGI,
        "http_version": http_version,
        "server": server,
        "client": client,
        "scheme": scheme,
        "method": method,
        "root_path": root_path,
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
        "state": lifespan_state.copy(),
        "extensions": extensions,
    }
    if forwarded is not None:
        forwarded.apply(scope)
    return scope


def websocket_scope(
    target: bytes,
    http_version: str,
    headers: list[tuple[bytes, bytes]],
    subprotocols: list[str],
    client: tuple[str, int] | None,
    server: tuple[str, int | None] | None,
    scheme: str,
    root_path: str,
    lifespan_state: dict[str, Any],
    extensions: dict[str, Any],
    forwarded: ProxySettings | None,
) -> Scope:
    """The scope of a WebSocket (asgiref www.rst, "Websocket Connection Scope").

    `scheme` is the connection's ("http" or "https"); the scope says "ws" or
    "wss". The `websocket.http.response` extension (denial responses) is
    advertised on every protocol hurtle speaks WebSocket on.
    """
    path, raw_path, query = split_target(target, root_path)
    scope: Scope = {
        "type": "websocket",
        "asgi": WEBSOCKET_ASGI,
        "http_version": http_version,
        "scheme": "wss" if scheme == "https" else "ws",
        "server": server,
        "client": client,
        "root_path": root_path,
        "path": path,
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
        "subprotocols": subprotocols,
        "state": lifespan_state.copy(),
        "extensions": _websocket_extensions(extensions),
    }
    if forwarded is not None:
        forwarded.apply(scope)
    return scope


def _websocket_extensions(extensions: dict[str, Any]) -> dict[str, Any]:
    """The connection's extensions a WebSocket has: not those of an HTTP response.

    The `http.response.*` extensions (trailers, ...) are messages of the
    http cycle; a WebSocket's denial response is `websocket.http.response`.
    """
    result: dict[str, Any] = {"websocket.http.response": {}}
    for name, value in extensions.items():
        if not name.startswith("http.response."):
            result[name] = value
    return result


def split_target(target: bytes, root_path: str) -> tuple[str, bytes, bytes]:
    """ASGI `path`, `raw_path` and `query_string` of a request target.

    `path` is percent-decoded, then read as UTF-8 (asgiref www.rst); the
    root_path is a prefix of both paths.
    """
    if target[:1] == b"/":
        raw_path, _, query = target.partition(b"?")
    else:
        raw_path, query = _split_other_target(target)
    # 0x25 is "%": an int needle is a memchr, where `b"%" in` first tries the
    # needle as an int and throws a formatted TypeError away (8x the cost).
    if 0x25 in raw_path:
        path = unquote_to_bytes(raw_path).decode("utf-8", "replace")
    else:
        path = raw_path.decode("utf-8", "replace")
    if root_path:
        path = root_path + path
        raw_path = root_path.encode("utf-8") + raw_path
    return path, raw_path, query


def _split_other_target(target: bytes) -> tuple[bytes, bytes]:
    """Path and query of an absolute-form or asterisk-form target (RFC 9112 section 3.2)."""
    if target == b"*":
        return b"*", b""
    try:
        url = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        return target, b""
    return url.path or b"/", url.query or b""
