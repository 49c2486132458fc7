"""The one place that makes HPACK (RFC 7541) coders for wire/h2_engine.py.

The engine talks to HPACK through `HeaderEncoder` and `HeaderDecoder` only,
so that moving to hurtle's own coder (wire/hpack.py) is a change of this
module alone. For now they stand on the `hpack` library, which h2 installs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import hpack

__all__ = ["HeaderDecoder", "HeaderEncoder", "HeaderListTooLarge", "HpackError"]


class HpackError(Exception):
    """A header block that does not decode: the compression context is lost
    (RFC 9113 section 4.3, a connection error of type COMPRESSION_ERROR)."""


class HeaderListTooLarge(HpackError):
    """The block decodes to more than SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113
    section 10.5.1): stopped while decoding, so an HPACK bomb costs little."""


class HeaderDecoder:
    __slots__ = ("_decoder",)

    def __init__(self, max_header_list_size: int) -> None:
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = max_header_list_size

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        try:
            return cast("list[tuple[bytes, bytes]]", self._decoder.decode(block, raw=True))
        except hpack.OversizedHeaderListError as error:
            raise HeaderListTooLarge(str(error)) from None
        except (hpack.HPACKError, IndexError, TypeError, UnicodeDecodeError) as error:
            raise HpackError(str(error) or type(error).__name__) from None


class HeaderEncoder:
    __slots__ = ("_encoder",)

    def __init__(self) -> None:
        self._encoder = hpack.Encoder()

    def encode(self, headers: Sequence[tuple[bytes, bytes]]) -> bytes:
        return bytes(self._encoder.encode(headers))

    def set_table_size(self, size: int) -> None:
        """The peer's SETTINGS_HEADER_TABLE_SIZE (RFC 7541 section 4.2)."""
        self._encoder.header_table_size = size
