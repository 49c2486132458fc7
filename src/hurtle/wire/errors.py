"""The exceptions of the wire layer, in a module of their own.

wire/h1.py and wire/headers.py may be compiled with mypyc (setup.py), and a
compiled class cannot subclass a built-in exception; these stay plain Python.
"""

from __future__ import annotations

__all__ = ["InvalidResponse", "LastMessage", "RequestRefused"]


class InvalidResponse(RuntimeError):
    """The app sent something that cannot be put on the wire; the message says what."""


class RequestRefused(Exception):
    """Raised inside an llhttp callback: answer `status` with `reason`, then close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class LastMessage(Exception):
    """Raised inside an llhttp callback: the message just ended is the connection's last.

    RFC 9112 section 6.1: after an HTTP/1.0 message with Transfer-Encoding, the
    bytes that follow may be the rest of a message a proxy in front framed
    differently; they are never parsed.
    """
