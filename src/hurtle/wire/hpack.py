"""HPACK (RFC 7541): header compression for HTTP/2, sans-I/O, compiled with mypyc.

Theory of operation
-------------------
A header block is a sequence of field representations (RFC 7541 section 6)
read against two tables: the static table of 61 fields (Appendix A) and a
dynamic table of recent fields, newest first, bounded in size (section 4).
`Decoder.decode(block)` returns the block's fields as (name, value) bytes
pairs, in order; `Encoder.encode(fields)` makes a block. Each side of a
connection has one of each, and the two dynamic tables of a direction stay
in step only if every block is decoded, in order (RFC 9113 section 4.3).

The decoder is the hot path: on a warm connection most request fields are
one byte each, an index into the tables. So it reads the block with bytes
indexing and typed locals, returns the tables' own tuple objects for indexed
fields (no copy), and decodes Huffman strings with a table of 4-bit steps
built at import from the code lengths of Appendix B (two lookups a byte, no
loop over bits).

Defences, checked while decoding so that a hostile block stops early:

- the decoded header list is bounded by `max_header_list_size`, counted as
  RFC 9113 section 6.5.2 does (name + value + 32 a field), and a literal
  that would pass the bound is refused from its declared length, before it
  is read or Huffman-decoded (HPACK bombs, RFC 7541 section 7.3);
- dynamic table size updates only at the start of a block, and never above
  `max_allowed_table_size`, the SETTINGS_HEADER_TABLE_SIZE acknowledged
  (sections 4.2 and 6.3); after that setting shrank, the first block must
  shrink the table;
- an index of 0 or past the tables, a truncated block, an integer of more
  than 6 octets, Huffman padding longer than 7 bits or not all ones, and an
  EOS symbol inside a Huffman string are decoding errors (sections 2.3.3,
  5.1, 5.2).

Errors are `HPACKError` subclasses (defined in wire/errors.py), named like
the `hpack` library's so that wire/h2.py can hand h2 the class it expects
for each.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any, Final, cast

# The errors are plain Python (a compiled class cannot subclass a built-in
# exception); they are this module's API all the same.
from hurtle.wire.errors import (
    HPACKDecodingError,
    HPACKError,
    InvalidTableIndexError,
    InvalidTableSizeError,
    OversizedHeaderListError,
)

__all__ = [
    "STATIC_TABLE",
    "Decoder",
    "Encoder",
    "HPACKDecodingError",
    "HPACKError",
    "InvalidTableIndexError",
    "InvalidTableSizeError",
    "OversizedHeaderListError",
    "huffman_decode",
    "huffman_encode",
]


# RFC 7541 section 4.1: an entry's size is its name's and value's lengths plus 32.
ENTRY_OVERHEAD: Final = 32
# SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 section 6.5.2).
DEFAULT_TABLE_SIZE: Final = 4096
# The same bound h2 gives its decoder when nothing else is said.
DEFAULT_MAX_HEADER_LIST_SIZE: Final = 65536
# Section 5.1 allows integers of any length and asks decoders to bound them:
# a prefix and 5 continuation octets carry 35 bits, more than any length,
# index or table size can use.
_MAX_INTEGER_CONTINUATIONS: Final = 5

# RFC 7541 Appendix A: the static table, indexes 1 to 61.
STATIC_TABLE: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
)
_STATIC_COUNT: Final = 61

# RFC 7541 Appendix B, the "len" column: the bit length of the Huffman code
# of each symbol, 0 to 255 then EOS (256). The code is canonical (codes of
# one length are consecutive, in symbol order, after the shorter ones), so
# these lengths give every code; _canonical_codes rebuilds the "code as
# hex" column from them, and tests/wire/test_hpack.py checks it.
# fmt: off
HUFFMAN_CODE_LENGTHS: Final = bytes(
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
        30,
    ]
)
# fmt: on
_EOS: Final = 256


def _canonical_codes(lengths: bytes) -> list[int]:
    """The code of each symbol: canonical Huffman codes from their lengths (Appendix B)."""
    order = sorted(range(len(lengths)), key=lambda symbol: (lengths[symbol], symbol))
    codes = [0] * len(lengths)
    code = 0
    previous = lengths[order[0]]
    for position, symbol in enumerate(order):
        if position:
            code = (code + 1) << (lengths[symbol] - previous)
            previous = lengths[symbol]
        codes[symbol] = code
    return codes


HUFFMAN_CODES: Final = _canonical_codes(HUFFMAN_CODE_LENGTHS)

# The decoding automaton. A state is an internal node of the code's binary
# tree (256 of them for 257 leaves; 0 is the root). Each step reads 4 bits:
# _HUFFMAN_STEPS[state * 16 + nibble] packs the next state (bits 0-7), the
# symbol completed on the way (bits 8-15, when _EMIT is set; codes are at
# least 5 bits long, so a nibble completes at most one), or _FAIL when the
# path reaches EOS, which may not appear in a string (section 5.2).
_EMIT: Final = 1 << 16
_FAIL: Final = 1 << 17


def _huffman_automaton() -> tuple[list[int], bytes]:
    """The 4-bit steps and, per state, whether a string may end there (section 5.2).

    A string may end at the root, or at most 7 bits into the path of all
    ones from it (the padding, "the most significant bits of the code
    corresponding to the EOS symbol").
    """
    # The tree: children[2 * node + bit] is a node (>= 0) or ~symbol (< 0).
    children = [0] * 512
    nodes = 1
    for symbol in range(_EOS + 1):
        length = HUFFMAN_CODE_LENGTHS[symbol]
        code = HUFFMAN_CODES[symbol]
        node = 0
        for shift in range(length - 1, -1, -1):
            slot = 2 * node + ((code >> shift) & 1)
            if shift == 0:
                children[slot] = ~symbol
            else:
                if children[slot] == 0:
                    children[slot] = nodes
                    nodes += 1
                node = children[slot]
    steps = [0] * (nodes * 16)
    for state in range(nodes):
        for nibble in range(16):
            node = state
            entry = 0
            for shift in (3, 2, 1, 0):
                child = children[2 * node + ((nibble >> shift) & 1)]
                if child >= 0:
                    node = child
                    continue
                symbol = ~child
                if symbol == _EOS:
                    entry = _FAIL
                    break
                entry = _EMIT | (symbol << 8)
                node = 0
            steps[state * 16 + nibble] = entry | (node if not entry & _FAIL else 0)
    accepting = bytearray(nodes)
    node = 0
    for _depth in range(8):  # The root, then up to 7 bits of ones.
        accepting[node] = 1
        node = children[2 * node + 1]
    return steps, bytes(accepting)


_HUFFMAN_STEPS, _HUFFMAN_ACCEPTING = _huffman_automaton()
HUFFMAN_STEPS: Final[list[int]] = _HUFFMAN_STEPS
HUFFMAN_ACCEPTING: Final[bytes] = _HUFFMAN_ACCEPTING


def huffman_decode(data: bytes, start: int = 0, end: int = -1) -> bytes:
    """The string Huffman-coded in data[start:end] (RFC 7541 section 5.2).

    Two table steps a byte; the state at the end must be one where padding
    may stop (at most 7 bits, all ones), and EOS inside the string fails.
    """
    if end < 0:
        end = len(data)
    steps = HUFFMAN_STEPS
    out: list[int] = []  # (A list: its append is compiled; a bytearray's is a method call.)
    state = 0
    position = start
    while position < end:
        byte = data[position]
        entry = steps[(state << 4) | (byte >> 4)]
        if entry & _EMIT:
            out.append((entry >> 8) & 0xFF)
        elif entry & _FAIL:
            raise HPACKDecodingError("EOS symbol in a Huffman string")
        state = entry & 0xFF
        entry = steps[(state << 4) | (byte & 0x0F)]
        if entry & _EMIT:
            out.append((entry >> 8) & 0xFF)
        elif entry & _FAIL:
            raise HPACKDecodingError("EOS symbol in a Huffman string")
        state = entry & 0xFF
        position += 1
    if not HUFFMAN_ACCEPTING[state]:
        raise HPACKDecodingError("invalid Huffman padding")
    return bytes(out)


def huffman_encoded_length(data: bytes) -> int:
    """How many octets `data` takes Huffman-coded: to choose the shorter form (section 5.2)."""
    lengths = HUFFMAN_CODE_LENGTHS
    bits = 0
    for byte in data:
        bits += lengths[byte]
    return (bits + 7) >> 3


def huffman_encode(data: bytes) -> bytes:
    """`data` Huffman-coded, padded with the high bits of EOS, all ones (section 5.2)."""
    out: list[int] = []
    _huffman_encode_into(out, data)
    return bytes(out)


def _huffman_encode_into(out: list[int], data: bytes) -> None:
    codes = HUFFMAN_CODES
    lengths = HUFFMAN_CODE_LENGTHS
    pending = 0  # Bits not yet written, in the low `count` bits (< 8 between symbols).
    count = 0
    for byte in data:
        length = lengths[byte]
        pending = (pending << length) | codes[byte]
        count += length
        while count >= 8:
            count -= 8
            out.append((pending >> count) & 0xFF)
        pending &= (1 << count) - 1
    if count:
        out.append(((pending << (8 - count)) | (0xFF >> count)) & 0xFF)


def _encode_integer(out: list[int], flags: int, prefix_bits: int, value: int) -> None:
    """An integer with an N-bit prefix (RFC 7541 section 5.1); `flags` fills the first octet's high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        out.append(flags | value)
        return
    out.append(flags | limit)
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _read_integer_rest(data: bytes, position: int, end: int, value: int) -> tuple[int, int]:
    """The continuation octets of an integer whose prefix was full (section 5.1).

    Returns the integer and the position after it. At most 5 continuation
    octets are read (section 5.1 lets decoders bound integers).
    """
    shift = 0
    for _ in range(_MAX_INTEGER_CONTINUATIONS):
        if position >= end:
            raise HPACKDecodingError("truncated integer")
        byte = data[position]
        position += 1
        value += (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
    raise HPACKDecodingError("integer too long")


# For the decoder: the static table and its entry sizes by index (0 unused),
# as objects, so that an indexed field is the table's own tuple.
_STATIC_FIELDS: Final[list[object]] = [(b"", b""), *STATIC_TABLE]
_STATIC_SIZES: Final[list[int]] = [0] + [
    len(name) + len(value) + ENTRY_OVERHEAD for name, value in STATIC_TABLE
]
_STATIC_NAMES: Final[list[bytes]] = [b""] + [name for name, _ in STATIC_TABLE]


class Decoder:
    """One direction's HPACK decoding context (RFC 7541 sections 2.2 and 3).

    `max_header_list_size` bounds each decoded block (SETTINGS_MAX_HEADER_LIST_SIZE);
    `max_allowed_table_size` is the SETTINGS_HEADER_TABLE_SIZE the peer
    acknowledged, the bound of its table size updates; `header_table_size`
    is the dynamic table's current maximum size, as the peer's encoder set it.
    """

    def __init__(self, max_header_list_size: int = DEFAULT_MAX_HEADER_LIST_SIZE) -> None:
        self.max_header_list_size = max_header_list_size
        self.max_allowed_table_size = DEFAULT_TABLE_SIZE
        self._max_size = DEFAULT_TABLE_SIZE
        self._size = 0
        # The dynamic table, oldest first from _first (entries before it
        # were evicted and are dropped in batches); sizes alongside.
        self._entries: list[object] = []
        self._sizes: list[int] = []
        self._first = 0

    @property
    def header_table_size(self) -> int:
        return self._max_size

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._resize(value)

    @property
    def table_size(self) -> int:
        """The dynamic table's size now: its entries' sizes added up (section 4.1)."""
        return self._size

    def table(self) -> list[tuple[bytes, bytes]]:
        """The dynamic table's entries, newest (index 62) first: for tests and debugging."""
        live = cast(list[tuple[bytes, bytes]], self._entries[self._first :])
        live.reverse()
        return live

    def decode(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """The fields of one complete header block, in order (RFC 7541 section 3.2)."""
        end = len(data)
        position = 0
        # Section 4.2: dynamic table size updates come first, if at all.
        while position < end and data[position] & 0xE0 == 0x20:
            size = data[position] & 0x1F
            position += 1
            if size == 0x1F:
                size, position = _read_integer_rest(data, position, end, size)
            if size > self.max_allowed_table_size:
                raise InvalidTableSizeError(
                    f"table size update to {size}, above the limit of {self.max_allowed_table_size}"
                )
            self._resize(size)
        if self._max_size > self.max_allowed_table_size:
            # The limit shrank (SETTINGS) and this first block did not shrink the table.
            raise InvalidTableSizeError("the table was not shrunk to the new limit")
        fields: list[object] = []
        listed = 0  # RFC 9113 section 6.5.2: name + value + 32 a field.
        limit = self.max_header_list_size
        entries = self._entries
        static_fields = _STATIC_FIELDS
        static_sizes = _STATIC_SIZES
        while position < end:
            byte = data[position]
            position += 1
            if byte & 0x80:
                # Section 6.1: an indexed field, the common case when warm.
                index = byte & 0x7F
                if index == 0x7F:
                    index, position = _read_integer_rest(data, position, end, index)
                if 0 < index <= _STATIC_COUNT:
                    fields.append(static_fields[index])
                    listed += static_sizes[index]
                else:
                    slot = self._slot(index)
                    fields.append(entries[slot])
                    listed += self._sizes[slot]
                if listed > limit:
                    raise OversizedHeaderListError(
                        f"header list larger than {limit} bytes (RFC 9113 section 6.5.2)"
                    )
                continue
            if byte & 0x40:
                # Section 6.2.1: a literal that joins the dynamic table.
                index = byte & 0x3F
                if index == 0x3F:
                    index, position = _read_integer_rest(data, position, end, index)
                indexing = True
            elif byte & 0x20:
                raise InvalidTableSizeError("table size update after the first field (section 4.2)")
            else:
                # Sections 6.2.2 and 6.2.3: a literal without indexing, or never indexed.
                index = byte & 0x0F
                if index == 0x0F:
                    index, position = _read_integer_rest(data, position, end, index)
                indexing = False
            budget = limit - listed - ENTRY_OVERHEAD
            if index:
                name = self._name(index)
            else:
                name, position = _read_string(data, position, end, budget)
            value, position = _read_string(data, position, end, budget - len(name))
            size = len(name) + len(value) + ENTRY_OVERHEAD
            listed += size
            if listed > limit:
                raise OversizedHeaderListError(
                    f"header list larger than {limit} bytes (RFC 9113 section 6.5.2)"
                )
            field: object = (name, value)
            fields.append(field)
            if indexing:
                self._add(field, size)
        return cast(list[tuple[bytes, bytes]], fields)

    def _slot(self, index: int) -> int:
        """Where dynamic table index `index` (62 is the newest) is in _entries (section 2.3.3)."""
        newest = len(self._entries) - 1
        slot = newest - (index - _STATIC_COUNT - 1)
        if index <= 0 or slot < self._first:
            raise InvalidTableIndexError(f"invalid table index {index}")
        return slot

    def _name(self, index: int) -> bytes:
        if index <= _STATIC_COUNT:
            return _STATIC_NAMES[index]
        return cast(tuple[bytes, bytes], self._entries[self._slot(index)])[0]

    def _add(self, field: object, size: int) -> None:
        """Section 4.4: evict the oldest entries until the new one fits, then add it.

        An entry larger than the table empties it and is not added.
        """
        self._evict(self._max_size - size)
        if size <= self._max_size:
            self._entries.append(field)
            self._sizes.append(size)
            self._size += size

    def _resize(self, max_size: int) -> None:
        """Section 4.3: a new maximum size evicts entries until the table fits it."""
        self._max_size = max_size
        self._evict(max_size)

    def _evict(self, room: int) -> None:
        """Evict oldest entries until the table's size is at most `room` (0 if negative)."""
        entries = self._entries
        sizes = self._sizes
        first = self._first
        size = self._size
        while size > room and first < len(entries):
            size -= sizes[first]
            entries[first] = None
            first += 1
        self._first = _drop_evicted(entries, sizes, first)
        self._size = size


def _drop_evicted(entries: list[Any], sizes: list[int], first: int) -> int:
    """Forget a table's evicted entries, the `first` at the front of its lists, in bulk.

    Eviction only moves `first` on (no list shift per entry); the lists are cut
    once the evicted half is worth a copy. Returns where the oldest live entry now is.
    """
    if first >= 64 and 2 * first >= len(entries):
        del entries[:first]
        del sizes[:first]
        return 0
    if first == len(entries):
        entries.clear()
        sizes.clear()
        return 0
    return first


def _read_string(data: bytes, position: int, end: int, budget: int) -> tuple[bytes, int]:
    """A string literal (RFC 7541 section 5.2) at `position`, and the position after it.

    `budget` is what the header list may still take: a string that would
    exceed it is refused from its declared length, before it is read
    (for a Huffman string, from the fewest octets it can decode to: codes
    are at most 30 bits).
    """
    if position >= end:
        raise HPACKDecodingError("truncated header block")
    byte = data[position]
    position += 1
    length = byte & 0x7F
    if length == 0x7F:
        length, position = _read_integer_rest(data, position, end, length)
    huffman = byte & 0x80
    least = (length * 8) // 30 if huffman else length
    if least > budget:
        raise OversizedHeaderListError("header list too large (RFC 9113 section 6.5.2)")
    stop = position + length
    if stop > end:
        raise HPACKDecodingError("truncated header block")
    if huffman:
        return huffman_decode(data, position, stop), stop
    return data[position:stop], stop


# For the encoder: the first static index of each field, by name then value,
# and of each name. Keyed by the two bytes objects, not by a (name, value)
# tuple: their hashes are kept, where a tuple is built and hashed each time.
def _first_indexes() -> tuple[dict[bytes, dict[bytes, int]], dict[bytes, int]]:
    fields: dict[bytes, dict[bytes, int]] = {}
    names: dict[bytes, int] = {}
    for index, (name, value) in enumerate(STATIC_TABLE, 1):
        fields.setdefault(name, {}).setdefault(value, index)
        names.setdefault(name, index)
    return fields, names


_STATIC_FIELD_INDEX, _STATIC_NAME_INDEX = _first_indexes()
STATIC_FIELD_INDEX: Final[dict[bytes, dict[bytes, int]]] = _STATIC_FIELD_INDEX
STATIC_NAME_INDEX: Final[dict[bytes, int]] = _STATIC_NAME_INDEX

# Fields never added to a table by default (section 7.1.3): credentials, and
# short cookies, which guessing could recover (the rule h2 and nghttp2 apply).
_SENSITIVE_NAMES: Final = frozenset((b"authorization", b"proxy-authorization"))
_SHORT_COOKIE: Final = 20


class Encoder:
    """One direction's HPACK encoding context.

    The encoder's policy, simple and predictable: a field in a table is
    sent as its index (section 6.1); any other is a literal that joins the
    dynamic table (6.2.1), naming its name by index when a table has it,
    except sensitive fields, which are never indexed (6.2.3): authorization,
    proxy-authorization, cookies shorter than 20 octets, and any name in
    `encode`'s `never_index`. A field larger than the table is sent without
    indexing (6.2.2), since adding it would only empty the table. Strings
    are Huffman-coded unless that is longer (5.2).

    `header_table_size` is set from the peer's SETTINGS_HEADER_TABLE_SIZE;
    the table uses that, up to `max_table_size` (memory a connection holds),
    and the next block starts with the size updates that say so (4.2).
    """

    def __init__(self, max_table_size: int = DEFAULT_TABLE_SIZE) -> None:
        self.max_table_size = max_table_size
        self._max_size = min(DEFAULT_TABLE_SIZE, max_table_size)
        # The size updates the next block starts with: the smallest size
        # since the last block, then the size now (section 4.2); -1: none.
        self._smallest_update = -1
        if self._max_size < DEFAULT_TABLE_SIZE:
            self._smallest_update = self._max_size  # The peer's decoder may free the rest.
        self._size = 0
        # The dynamic table, oldest first from _first; entry k of the list
        # was the (_inserted - len + k)-th added, its sequence number.
        self._entries: list[tuple[bytes, bytes]] = []
        self._sizes: list[int] = []
        self._first = 0
        self._inserted = 0
        # The sequence number of the newest entry of each field (by name,
        # then value, as STATIC_FIELD_INDEX) and of each name.
        self._field_seq: dict[bytes, dict[bytes, int]] = {}
        self._name_seq: dict[bytes, int] = {}

    @property
    def header_table_size(self) -> int:
        return self._max_size

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        size = min(value, self.max_table_size)
        if size == self._max_size:
            return
        if self._smallest_update < 0 or size < self._smallest_update:
            self._smallest_update = size
        self._max_size = size
        self._evict(size)

    def table(self) -> list[tuple[bytes, bytes]]:
        """The dynamic table's entries, newest (index 62) first: for tests and debugging."""
        live = self._entries[self._first :]
        live.reverse()
        return live

    def encode(
        self,
        headers: Iterable[tuple[bytes, bytes]],
        huffman: bool = True,
        never_index: Container[bytes] | None = None,
    ) -> bytes:
        """One header block for `headers`, (name, value) pairs in order.

        Names in `never_index` are sent as never-indexed literals (section
        6.2.3), which intermediaries must forward as such; `huffman=False`
        leaves every string uncoded.
        """
        out: list[int] = []  # Octets; a list's append is compiled, a bytearray's is not.
        if self._smallest_update >= 0:
            if self._smallest_update < self._max_size:
                _encode_integer(out, 0x20, 5, self._smallest_update)
            _encode_integer(out, 0x20, 5, self._max_size)
            self._smallest_update = -1
        for name, value in headers:
            sensitive = name in _SENSITIVE_NAMES or (
                name == b"cookie" and len(value) < _SHORT_COOKIE
            )
            if never_index is not None and name in never_index:
                sensitive = True
            if not sensitive:
                index = 0
                static_values = STATIC_FIELD_INDEX.get(name)
                if static_values is not None:
                    index = static_values.get(value, 0)
                if not index:
                    seqs = self._field_seq.get(name)
                    if seqs is not None:
                        index = self._dynamic_index(seqs.get(value, -1))
                if index:
                    _encode_integer(out, 0x80, 7, index)
                    continue
            name_index = STATIC_NAME_INDEX.get(name, 0)
            if not name_index:
                name_index = self._dynamic_index(self._name_seq.get(name, -1))
            size = len(name) + len(value) + ENTRY_OVERHEAD
            if sensitive:
                _encode_integer(out, 0x10, 4, name_index)
            elif size > self._max_size:
                _encode_integer(out, 0x00, 4, name_index)
            else:
                _encode_integer(out, 0x40, 6, name_index)
                self._add(name, value, size)
            if not name_index:
                _encode_string(out, name, huffman)
            _encode_string(out, value, huffman)
        return bytes(out)

    def _dynamic_index(self, seq: int) -> int:
        """The index of the entry with this sequence number, or 0 if evicted or absent."""
        if seq < 0 or seq < self._inserted - (len(self._entries) - self._first):
            return 0
        return _STATIC_COUNT + self._inserted - seq

    def _add(self, name: bytes, value: bytes, size: int) -> None:
        """Section 4.4, as the decoder will do it: evict, then add."""
        self._evict(self._max_size - size)
        self._entries.append((name, value))
        self._sizes.append(size)
        self._size += size
        seq = self._inserted
        self._inserted = seq + 1
        seqs = self._field_seq.get(name)
        if seqs is None:
            self._field_seq[name] = {value: seq}
        else:
            seqs[value] = seq
        self._name_seq[name] = seq

    def _evict(self, room: int) -> None:
        entries = self._entries
        sizes = self._sizes
        first = self._first
        size = self._size
        oldest = self._inserted - (len(entries) - first)
        while size > room and first < len(entries):
            name, value = entries[first]
            size -= sizes[first]
            # Forget the lookups that pointed at it, unless a newer copy took them over.
            seqs = self._field_seq.get(name)
            if seqs is not None and seqs.get(value, -1) == oldest:
                del seqs[value]
                if not seqs:
                    del self._field_seq[name]
            if self._name_seq.get(name, -1) == oldest:
                del self._name_seq[name]
            first += 1
            oldest += 1
        self._first = _drop_evicted(entries, sizes, first)
        self._size = size


def _encode_string(out: list[int], data: bytes, huffman: bool) -> None:
    """A string literal (section 5.2), Huffman-coded when asked and no longer.

    (At equal lengths Huffman, as the examples of RFC 7541 Appendix C do.)
    """
    if huffman and data:
        coded = huffman_encoded_length(data)
        if coded <= len(data):
            _encode_integer(out, 0x80, 7, coded)
            _huffman_encode_into(out, data)
            return
    _encode_integer(out, 0x00, 7, len(data))
    out.extend(data)
