"""HTTP/2 frames on the wire (RFC 9113 section 4 and 6): the numbers, and the frames a server writes.

Reading is done in place by wire/h2_engine.py, straight from the input
buffer (no frame objects); this module holds what both directions share and
the serializers of the frames hurtle sends. Compiled with mypyc.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = [
    "CONNECTION_PREFACE",
    "frame_head",
    "goaway_frame",
    "ping_ack_frame",
    "rst_stream_frame",
    "settings_ack_frame",
    "settings_frame",
    "window_update_frame",
]

# RFC 9113 section 3.4: the client's connection preface starts with these 24 bytes.
CONNECTION_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 section 6).
DATA: Final = 0x0
HEADERS: Final = 0x1
PRIORITY: Final = 0x2
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
PING: Final = 0x6
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9

# Flags (RFC 9113 section 6).
FLAG_END_STREAM: Final = 0x1
FLAG_ACK: Final = 0x1
FLAG_END_HEADERS: Final = 0x4
FLAG_PADDED: Final = 0x8
FLAG_PRIORITY: Final = 0x20

# Error codes (RFC 9113 section 7).
NO_ERROR: Final = 0x0
PROTOCOL_ERROR: Final = 0x1
INTERNAL_ERROR: Final = 0x2
FLOW_CONTROL_ERROR: Final = 0x3
STREAM_CLOSED: Final = 0x5
FRAME_SIZE_ERROR: Final = 0x6
REFUSED_STREAM: Final = 0x7
CANCEL: Final = 0x8
COMPRESSION_ERROR: Final = 0x9
ENHANCE_YOUR_CALM: Final = 0xB

# Settings (RFC 9113 section 6.5.2; RFC 8441 section 3 for 0x8).
SETTINGS_HEADER_TABLE_SIZE: Final = 0x1
SETTINGS_ENABLE_PUSH: Final = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS: Final = 0x3
SETTINGS_INITIAL_WINDOW_SIZE: Final = 0x4
SETTINGS_MAX_FRAME_SIZE: Final = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE: Final = 0x6
SETTINGS_ENABLE_CONNECT_PROTOCOL: Final = 0x8

MAX_WINDOW: Final = 2**31 - 1  # RFC 9113 section 6.9.1.
MAX_STREAM_ID: Final = 2**31 - 1
MIN_MAX_FRAME_SIZE: Final = 16384  # RFC 9113 section 6.5.2.
MAX_MAX_FRAME_SIZE: Final = 2**24 - 1


# The 9-byte frame header (RFC 9113 section 4.1) as three big-endian fields:
# the 24-bit length and the type in one 32-bit word, the flags, then the
# stream id. One pack() is a third of the cost of bytes() over nine ints.
_FRAME_HEAD: Final = struct.Struct(">IBI")


def frame_head(length: int, kind: int, flags: int, stream_id: int) -> bytes:
    """The 9-byte frame header (RFC 9113 section 4.1); the reserved bit is 0."""
    return _FRAME_HEAD.pack((length << 8) | kind, flags, stream_id & 0x7FFFFFFF)


def _u32(value: int) -> bytes:
    return bytes(((value >> 24) & 0xFF, (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


def settings_frame(values: list[tuple[int, int]]) -> bytes:
    """SETTINGS (RFC 9113 section 6.5): 6 bytes a setting, on stream 0."""
    payload = b"".join(bytes(((code >> 8) & 0xFF, code & 0xFF)) + _u32(v) for code, v in values)
    return frame_head(len(payload), SETTINGS, 0, 0) + payload


def settings_ack_frame() -> bytes:
    return frame_head(0, SETTINGS, FLAG_ACK, 0)


def ping_ack_frame(opaque: bytes) -> bytes:
    """RFC 9113 section 6.7: the same 8 bytes back, with ACK."""
    return frame_head(8, PING, FLAG_ACK, 0) + opaque


def window_update_frame(stream_id: int, increment: int) -> bytes:
    return frame_head(4, WINDOW_UPDATE, 0, stream_id) + _u32(increment & 0x7FFFFFFF)


def rst_stream_frame(stream_id: int, error_code: int) -> bytes:
    return frame_head(4, RST_STREAM, 0, stream_id) + _u32(error_code)


def goaway_frame(last_stream_id: int, error_code: int) -> bytes:
    """RFC 9113 section 6.8, without debug data."""
    return frame_head(8, GOAWAY, 0, 0) + _u32(last_stream_id & 0x7FFFFFFF) + _u32(error_code)
