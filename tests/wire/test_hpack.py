"""wire/hpack.py, hurtle's HPACK (RFC 7541): the RFC's examples, a corpus of
real encoders' blocks, the `hpack` library as an oracle, and the limits."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import hpack
import hpack.exceptions
import hpack.huffman_constants
import hpack.table
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hurtle.wire import hpack as hp

VECTORS = Path(__file__).parent / "vectors"

Fields = list[tuple[bytes, bytes]]


def _pairs(headers: list[Any]) -> Fields:
    return [(name.encode(), value.encode()) for name, value in headers]


# -- RFC 7541 Appendix C -------------------------------------------------------

APPENDIX_C = json.loads((VECTORS / "rfc7541-appendix-c.json").read_text())["groups"]


def _decoder(table_size: int) -> hp.Decoder:
    decoder = hp.Decoder()
    # As if SETTINGS_HEADER_TABLE_SIZE had been agreed before the first block.
    decoder.max_allowed_table_size = table_size
    decoder.header_table_size = table_size
    return decoder


@pytest.mark.parametrize("group", APPENDIX_C, ids=[group["section"] for group in APPENDIX_C])
def test_appendix_c_decodes(group: dict[str, Any]) -> None:
    decoder = _decoder(group["table_size"])
    for block in group["blocks"]:
        assert decoder.decode(bytes.fromhex(block["wire"])) == _pairs(block["headers"])
        assert decoder.table() == _pairs(block["table"])
        assert decoder.table_size == block["size"]


@pytest.mark.parametrize("group", APPENDIX_C, ids=[group["section"] for group in APPENDIX_C])
def test_appendix_c_encodes(group: dict[str, Any]) -> None:
    """The encoder makes the RFC's very bytes, but where its policy differs.

    C.2.2 sends a field "without indexing": the encoder would index it.
    """
    if group["section"] == "C.2.2":
        pytest.skip("the example's choice (no indexing) is not the encoder's policy")
    encoder = hp.Encoder()
    table_size = group["table_size"]
    encoder.header_table_size = table_size
    never_index = {name.encode() for name in group.get("never_index", ())}
    for number, block in enumerate(group["blocks"]):
        wire = encoder.encode(_pairs(block["headers"]), group["huffman"], never_index)
        if number == 0 and table_size != hp.DEFAULT_TABLE_SIZE:
            # Section 6.3: the new size, announced at the start of the first block.
            update: list[int] = []
            hp._encode_integer(update, 0x20, 5, table_size)
            assert wire.startswith(bytes(update))
            wire = wire[len(update) :]
        assert wire.hex() == block["wire"]
        assert encoder.table() == _pairs(block["table"])


def test_huffman_codes_are_appendix_b() -> None:
    """The codes rebuilt from the lengths: a few from the RFC's table, and all of hpack's."""
    codes = hp.HUFFMAN_CODES
    lengths = hp.HUFFMAN_CODE_LENGTHS
    assert (codes[0], lengths[0]) == (0x1FF8, 13)
    assert (codes[1], lengths[1]) == (0x7FFFD8, 23)
    assert (codes[ord("0")], lengths[ord("0")]) == (0x0, 5)
    assert (codes[ord("a")], lengths[ord("a")]) == (0x3, 5)
    assert (codes[ord(" ")], lengths[ord(" ")]) == (0x14, 6)
    assert (codes[255], lengths[255]) == (0x3FFFFEE, 26)
    assert (codes[256], lengths[256]) == (0x3FFFFFFF, 30)  # EOS
    assert codes == hpack.huffman_constants.REQUEST_CODES
    assert list(lengths) == hpack.huffman_constants.REQUEST_CODES_LENGTH


def test_static_table_is_appendix_a() -> None:
    assert len(hp.STATIC_TABLE) == 61
    assert hp.STATIC_TABLE[0] == (b":authority", b"")
    assert hp.STATIC_TABLE[60] == (b"www-authenticate", b"")
    assert list(hp.STATIC_TABLE) == list(hpack.table.HeaderTable.STATIC_TABLE)


@pytest.mark.parametrize("data", [b"", b"a", b"www.example.com", bytes(range(256)) * 2])
def test_huffman_round_trip(data: bytes) -> None:
    coded = hp.huffman_encode(data)
    assert len(coded) == hp.huffman_encoded_length(data)
    assert hp.huffman_decode(coded) == data


# -- hpack-test-case: real encoders' blocks ---------------------------------------

CORPUS = sorted((VECTORS / "hpack-test-case").glob("*.json.gz"))


def _stories() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for path in CORPUS:
        stories = json.loads(gzip.decompress(path.read_bytes()))
        encoder = path.name.removesuffix(".json.gz")
        found.extend((f"{encoder}/{name}", story) for name, story in sorted(stories.items()))
    return found


STORIES = _stories()


def _story_headers(case: dict[str, Any]) -> Fields:
    return [
        (name.encode(), value.encode())
        for field in case["headers"]
        for name, value in field.items()
    ]


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) == 4
    assert len(STORIES) == 127


@pytest.mark.parametrize(
    "story", [story for _, story in STORIES], ids=[name for name, _ in STORIES]
)
def test_corpus_story_decodes(story: dict[str, Any]) -> None:
    """Every case of a story on one decoder, in order (the corpus's README)."""
    decoder = hp.Decoder()
    for case in story["cases"]:
        if "header_table_size" in case:
            decoder.max_allowed_table_size = case["header_table_size"]
        assert decoder.decode(bytes.fromhex(case["wire"])) == _story_headers(case)


@pytest.mark.parametrize(
    "story",
    [story for name, story in STORIES if name.startswith("nghttp2")],
    ids=[name for name, _ in STORIES if name.startswith("nghttp2")],
)
def test_corpus_story_encodes(story: dict[str, Any]) -> None:
    """The story's header sets, encoded here, decode to themselves here and in hpack,
    with the table size changes the story makes."""
    encoder = hp.Encoder()
    ours = hp.Decoder()
    theirs = hpack.Decoder()
    for case in story["cases"]:
        if "header_table_size" in case:
            encoder.header_table_size = case["header_table_size"]
            ours.max_allowed_table_size = case["header_table_size"]
            theirs.max_allowed_table_size = case["header_table_size"]
        headers = _story_headers(case)
        block = encoder.encode(headers)
        assert ours.decode(block) == headers
        assert [tuple(field) for field in theirs.decode(block, raw=True)] == headers
        assert ours.table() == list(theirs.header_table.dynamic_entries)


# -- the hpack library as an oracle ------------------------------------------------

names = st.one_of(
    st.sampled_from([name for name, _ in hp.STATIC_TABLE]),
    st.binary(max_size=20),
)
values = st.one_of(
    st.sampled_from([value for _, value in hp.STATIC_TABLE]),
    st.binary(max_size=40),
    st.binary(min_size=100, max_size=600),
)
fields = st.lists(st.tuples(names, values), max_size=12)
# A story: header lists, each maybe after a new SETTINGS_HEADER_TABLE_SIZE.
steps = st.lists(st.tuples(st.none() | st.integers(0, 8192), fields), min_size=1, max_size=8)

ORACLE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ORACLE
@given(steps)
def test_our_blocks_decode_in_hpack(story: list[tuple[int | None, Fields]]) -> None:
    encoder = hp.Encoder()
    theirs = hpack.Decoder()
    for table_size, headers in story:
        if table_size is not None:
            encoder.header_table_size = table_size
            theirs.max_allowed_table_size = table_size
        block = encoder.encode(headers)
        assert [tuple(field) for field in theirs.decode(block, raw=True)] == headers
        assert list(theirs.header_table.dynamic_entries) == encoder.table()


@ORACLE
@given(steps, st.booleans())
def test_hpack_blocks_decode_here(story: list[tuple[int | None, Fields]], huffman: bool) -> None:
    encoder = hpack.Encoder()
    ours = hp.Decoder()
    for table_size, headers in story:
        if table_size is not None:
            encoder.header_table_size = table_size
            ours.max_allowed_table_size = table_size
        block = encoder.encode(headers, huffman=huffman)
        assert ours.decode(block) == headers
        assert ours.table() == list(encoder.header_table.dynamic_entries)


def _outcome(decoder: Any, block: bytes) -> Fields | str:
    try:
        if isinstance(decoder, hp.Decoder):
            return decoder.decode(block)
        return [tuple(field) for field in decoder.decode(block, raw=True)]
    except (hp.HPACKError, hpack.exceptions.HPACKError):
        return "error"


def _agree(prefix: list[bytes], block: bytes, limit: int = 65536) -> None:
    """Both decoders, after the same valid blocks, agree on `block`: the same
    fields or both an error. (Where both fail they may name different
    errors: a literal longer than the header list may take is an
    OversizedHeaderListError here from its declared length, before hpack
    finds it truncated.)"""
    ours = hp.Decoder(limit)
    theirs = hpack.Decoder(limit)
    for earlier in prefix:
        assert _outcome(ours, earlier) == _outcome(theirs, earlier)
    assert _outcome(ours, block) == _outcome(theirs, block)


@ORACLE
@given(st.binary(max_size=64))
def test_random_bytes_agree_with_hpack(block: bytes) -> None:
    _agree([], block)


@ORACLE
@given(
    fields,
    fields,
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    st.integers(0, 10**6),
    st.booleans(),
)
def test_mutated_blocks_agree_with_hpack(
    first: Fields, second: Fields, flips: list[tuple[int, int]], cut: int, huffman: bool
) -> None:
    """Real blocks with bytes changed and cut short: the same verdicts, the same fields."""
    encoder = hpack.Encoder()
    warm = encoder.encode(first, huffman=huffman)
    block = bytearray(encoder.encode(second, huffman=huffman))
    for position, byte in flips:
        if block:
            block[position % len(block)] = byte
    if block:
        del block[cut % (len(block) + 1) :]
    _agree([warm], bytes(block))


@ORACLE
@given(fields, st.integers(0, 2000))
def test_header_list_limit_agrees_with_hpack(headers: Fields, limit: int) -> None:
    _agree([], hpack.Encoder().encode(headers), limit)


# -- limits ------------------------------------------------------------------------


def _literal(name: bytes, value: bytes, flags: int = 0x40) -> bytes:
    out = [flags]
    hp._encode_integer(out, 0x00, 7, len(name))
    out += name
    hp._encode_integer(out, 0x00, 7, len(value))
    return bytes(out) + value


def test_bomb_of_indexed_repeats_stops_at_the_limit() -> None:
    """One large entry, then its index again and again: refused at the field that
    passes the limit, before the rest of the block (which ends in index 0, an
    error that decoding it all would have reported instead)."""
    decoder = hp.Decoder(max_header_list_size=65536)
    block = _literal(b"x-big", b"a" * 4000) + b"\xbe" * 100_000 + b"\x80"
    with pytest.raises(hp.OversizedHeaderListError):
        decoder.decode(block)


@pytest.mark.parametrize("huffman", [False, True])
def test_huge_literal_refused_from_its_declared_length(huffman: bool) -> None:
    """A literal declaring a megabyte is refused on its length, not found truncated."""
    out = list(b"\x00\x05x-big")
    hp._encode_integer(out, 0x80 if huffman else 0x00, 7, 1 << 20)
    out.extend(b"only a few bytes follow")
    with pytest.raises(hp.OversizedHeaderListError):
        hp.Decoder(max_header_list_size=65536).decode(bytes(out))


def test_header_list_limit_counts_32_a_field() -> None:
    block = _literal(b"a", b"b", 0x00)  # 1 + 1 + 32 = 34
    assert hp.Decoder(max_header_list_size=34).decode(block) == [(b"a", b"b")]
    with pytest.raises(hp.OversizedHeaderListError):
        hp.Decoder(max_header_list_size=33).decode(block)
    with pytest.raises(hp.OversizedHeaderListError):
        hp.Decoder(max_header_list_size=67).decode(block + b"\x82")  # + :method GET, 42


def test_table_size_update_above_the_limit_refused() -> None:
    decoder = hp.Decoder()
    update: list[int] = []
    hp._encode_integer(update, 0x20, 5, 4097)
    with pytest.raises(hp.InvalidTableSizeError):
        decoder.decode(bytes(update))
    decoder.max_allowed_table_size = 8192
    assert decoder.decode(bytes(update) + b"\x82") == [(b":method", b"GET")]
    assert decoder.header_table_size == 4097


def test_table_size_update_after_a_field_refused() -> None:
    with pytest.raises(hp.InvalidTableSizeError):
        hp.Decoder().decode(b"\x82\x20")
    # At the start, several are allowed (section 4.2: the smallest, then the last).
    assert hp.Decoder().decode(b"\x20\x3f\xe1\x1f\x82") == [(b":method", b"GET")]


def test_a_shrunk_limit_needs_an_update_in_the_next_block() -> None:
    decoder = hp.Decoder()
    decoder.decode(_literal(b"x-a", b"1"))
    decoder.max_allowed_table_size = 0  # SETTINGS_HEADER_TABLE_SIZE 0, acknowledged.
    with pytest.raises(hp.InvalidTableSizeError):
        decoder.decode(b"\x82")
    decoder = hp.Decoder()
    decoder.decode(_literal(b"x-a", b"1"))
    decoder.max_allowed_table_size = 0
    assert decoder.decode(b"\x20\x82") == [(b":method", b"GET")]
    assert decoder.table() == []


@pytest.mark.parametrize(
    ("coded", "why"),
    [
        (b"\x1f\xff", "padding of 11 bits"),  # 'a' (00011), then 3 + 8 ones.
        (b"\x18", "padding not all ones"),  # 'a', then 000.
        (b"\x1e", "padding not all ones"),  # 'a', then 110.
        (b"\xff\xff\xff\xff", "EOS"),  # 30 ones are EOS.
        (b"\xff", "padding of 8 bits"),
    ],
)
def test_bad_huffman_refused(coded: bytes, why: str) -> None:
    with pytest.raises(hp.HPACKDecodingError):
        hp.huffman_decode(coded)
    block = bytes([0x00, 0x01]) + b"x" + bytes([0x80 | len(coded)]) + coded
    with pytest.raises(hp.HPACKDecodingError):
        hp.Decoder().decode(block)
    assert hp.huffman_decode(b"\x1f") == b"a"  # 'a' and 3 ones: fine.


@pytest.mark.parametrize(
    "block",
    [
        b"\x80",  # Indexed field 0.
        b"\xbe",  # Index 62 with an empty dynamic table.
        b"\xff\x80\x01",  # Index 255.
        b"\x7e\x01a",  # A literal naming index 62.
        b"\x0f\x31\x01a",  # A literal without indexing naming index 64.
    ],
)
def test_bad_index_refused(block: bytes) -> None:
    with pytest.raises(hp.InvalidTableIndexError):
        hp.Decoder().decode(block)


@pytest.mark.parametrize(
    "block",
    [
        b"\xff",  # An integer cut short.
        b"\xff\xff\xff\xff\xff\xff\x01",  # 6 continuation octets.
        b"\x40\x05ab",  # A name cut short.
        b"\x40\x01a",  # No value.
        b"\x40\x01a\x03bc",  # A value cut short.
    ],
)
def test_truncated_or_overlong_refused(block: bytes) -> None:
    with pytest.raises(hp.HPACKDecodingError):
        hp.Decoder().decode(block)


def test_an_index_is_the_table_s_own_field() -> None:
    """No copy for indexed fields: the hot path hands out the tables' tuples."""
    decoder = hp.Decoder()
    first = decoder.decode(b"\x82" + _literal(b"x-a", b"1") + b"\xbe")
    assert first == [(b":method", b"GET"), (b"x-a", b"1"), (b"x-a", b"1")]
    assert first[0] is decoder.decode(b"\x82")[0]
    assert first[1] is first[2]


def test_eviction_keeps_the_newest() -> None:
    decoder = _decoder(100)
    decoder.decode(_literal(b"a", b"1") + _literal(b"b", b"2") + _literal(b"c", b"3"))
    assert decoder.table() == [(b"c", b"3"), (b"b", b"2")]  # 34 each: two fit in 100.
    assert decoder.table_size == 68
    decoder.decode(_literal(b"d", b"x" * 100))  # Larger than the table: empties it.
    assert decoder.table() == []
    assert decoder.table_size == 0


def test_long_runs_of_evictions() -> None:
    decoder = hp.Decoder()
    encoder = hp.Encoder()
    for number in range(2000):
        headers = [(b"x-n", b"%d" % number), (b"x-m", b"%d" % (number // 3))]
        assert decoder.decode(encoder.encode(headers)) == headers
    assert decoder.table() == encoder.table()
    assert decoder.table_size <= 4096


# -- the encoder's policy -------------------------------------------------------------


def test_sensitive_fields_are_never_indexed() -> None:
    encoder = hp.Encoder()
    for name, value in [
        (b"authorization", b"Basic dXNlcjpwYXNz"),
        (b"proxy-authorization", b"secret"),
        (b"cookie", b"short=1"),
    ]:
        block = encoder.encode([(name, value)])
        assert block[0] & 0xF0 == 0x10, name  # Section 6.2.3.
    assert encoder.table() == []
    block = encoder.encode([(b"cookie", b"a-long-cookie=0123456789")])
    assert block[0] & 0xC0 == 0x40
    block = encoder.encode([(b"x-api-key", b"k")], never_index={b"x-api-key"})
    assert block[0] & 0xF0 == 0x10
    assert hp.Decoder().decode(block) == [(b"x-api-key", b"k")]


def test_a_field_larger_than_the_table_is_not_indexed() -> None:
    encoder = hp.Encoder()
    encoder.encode([(b"x-a", b"1")])
    block = encoder.encode([(b"x-big", b"v" * 5000)])
    assert block[0] & 0xF0 == 0x00  # Section 6.2.2.
    assert encoder.table() == [(b"x-a", b"1")]


def test_repeats_are_indexed() -> None:
    encoder = hp.Encoder()
    headers = [(b":status", b"200"), (b"content-type", b"text/plain"), (b"server", b"hurtle")]
    encoder.encode(headers)
    assert encoder.encode(headers) == b"\x88\xbf\xbe"


def test_table_size_updates_announce_the_smallest_then_the_last() -> None:
    encoder = hp.Encoder()
    encoder.encode([(b"x-a", b"1")])
    encoder.header_table_size = 0
    encoder.header_table_size = 1000
    block = encoder.encode([(b":method", b"GET")])
    assert block == b"\x20\x3f\xc9\x07\x82"  # 0, then 1000.
    assert encoder.table() == []
    encoder.header_table_size = 1000  # No change: nothing to announce.
    assert encoder.encode([(b":method", b"GET")]) == b"\x82"


def test_the_encoder_table_is_capped() -> None:
    """A peer's large SETTINGS_HEADER_TABLE_SIZE is not memory the server must spend."""
    encoder = hp.Encoder()
    encoder.header_table_size = 65536
    assert encoder.header_table_size == 4096
    assert encoder.encode([(b":method", b"GET")]) == b"\x82"
    small = hp.Encoder(max_table_size=256)
    assert small.encode([(b":method", b"GET")]) == b"\x3f\xe1\x01\x82"


# -- the errors the engine tells apart (wire/h2_engine.py) --------------------------------


@pytest.mark.parametrize(
    ("block", "error"),
    [
        (b"\x80", hp.InvalidTableIndexError),
        (b"\x82\x20", hp.InvalidTableSizeError),
        (b"\x3f\xe2\x1f", hp.InvalidTableSizeError),
        (b"\x00\x01a\x81\xff", hp.HPACKDecodingError),
        (b"\x40\x05ab", hp.HPACKDecodingError),
        (_literal(b"x-big", b"a" * 4000) + b"\xbe" * 100, hp.OversizedHeaderListError),
    ],
)
def test_each_bad_block_raises_its_error(block: bytes, error: type[Exception]) -> None:
    """The engine answers OversizedHeaderListError with ENHANCE_YOUR_CALM (an HPACK
    bomb, RFC 9113 section 10.5.1) and any other HPACKError with COMPRESSION_ERROR."""
    decoder = hp.Decoder(65536)
    with pytest.raises(error) as caught:
        decoder.decode(block)
    assert type(caught.value) is error


def test_a_never_indexed_name_stays_out_of_the_table() -> None:
    """RFC 7541 section 6.2.3: a name marked never-indexed is sent as such and not stored."""
    encoder = hp.Encoder()
    decoder = hp.Decoder()
    headers = [(b":status", b"200"), (b"x-secret", b"s3cr3t"), (b"x-plain", b"p")]
    block = encoder.encode(headers, never_index={b"x-secret"})
    assert decoder.decode(block) == headers
    assert encoder.table() == [(b"x-plain", b"p")]
    library = hpack.Decoder()
    assert library.decode(block, raw=True) == headers
