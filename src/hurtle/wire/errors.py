"""The exceptions of the wire layer, in a module of their own.

wire/h1.py, wire/headers.py and wire/hpack.py may be compiled with mypyc (setup.py), and a
compiled class cannot subclass a built-in exception; these stay plain Python.
"""

from __future__ import annotations

__all__ = [
    "HPACKDecodingError",
    "HPACKError",
    "InvalidResponse",
    "InvalidTableIndexError",
    "InvalidTableSizeError",
    "LastMessage",
    "OversizedHeaderListError",
    "RequestRefused",
]


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


# HPACK (RFC 7541, wire/hpack.py), which re-exports them.


class HPACKError(Exception):
    """Anything wrong with a header block: the connection's HPACK state is lost."""


class HPACKDecodingError(HPACKError):
    """A block that breaks RFC 7541: a COMPRESSION_ERROR (RFC 9113 section 4.3)."""


class InvalidTableIndexError(HPACKDecodingError):
    """An index of 0, or past the static and dynamic tables (RFC 7541 section 2.3.3)."""


class InvalidTableSizeError(HPACKDecodingError):
    """A dynamic table size update out of place or above the limit (sections 4.2, 6.3)."""


class OversizedHeaderListError(HPACKDecodingError):
    """The decoded header list outgrew max_header_list_size (RFC 9113 section 6.5.2)."""
