"""ASGI types (asgiref specs/main.rst, www.rst, lifespan.rst) as hurtle uses them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from hurtle.wire.errors import InvalidResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# One shared, read-only-by-convention dict: the ASGI version this server speaks.
# HTTP spec 2.5: `send` on a closed connection raises an OSError subclass (2.4),
# root_path is a prefix of path.
HTTP_ASGI = {"version": "3.0", "spec_version": "2.5"}
WEBSOCKET_ASGI = {"version": "3.0", "spec_version": "2.5"}
LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}


class ClientDisconnected(OSError):
    """Raised by `send` when the client has gone away (ASGI HTTP spec 2.4)."""


class ASGIViolation(InvalidResponse):
    """--asgi-strict: the app broke a rule of the ASGI spec (asgi/strict.py).

    Logged where it was found, once; whoever catches it logs no more.
    """
