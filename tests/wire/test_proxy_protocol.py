"""The PROXY protocol parser: bytes in, a header, "need more" or an error out.

Rules are from HAProxy's doc/proxy-protocol.txt (versions 1 and 2).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hurtle.wire.proxy_protocol import (
    MAX_V1_LENGTH,
    MAX_V2_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    parse_proxy_header,
)

PROXY_V2 = 0x21  # version 2, command PROXY
LOCAL_V2 = 0x20  # version 2, command LOCAL
TCP4, TCP6, UNIX_STREAM, UDP4, UNSPEC = 0x11, 0x21, 0x31, 0x12, 0x00


def v2(command: int, family: int, block: bytes) -> bytes:
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(block)) + block


def inet4_block(src: bytes, dst: bytes, sport: int, dport: int) -> bytes:
    return src + dst + struct.pack("!HH", sport, dport)


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


V1_TCP4 = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
V1_TCP6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"
V1_WORST = (
    b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
)
V2_TCP4 = v2(PROXY_V2, TCP4, inet4_block(bytes([203, 0, 113, 7]), bytes([10, 0, 0, 1]), 4242, 80))
V2_TCP6 = v2(
    PROXY_V2,
    TCP6,
    bytes.fromhex("20010db8000000000000000000000007")
    + bytes.fromhex("20010db8000000000000000000000001")
    + struct.pack("!HH", 1, 8443),
)
VALID = [V1_TCP4, V1_TCP6, V1_WORST, b"PROXY UNKNOWN\r\n", V2_TCP4, V2_TCP6]


# -- version 1 ---------------------------------------------------------------------


def test_v1_tcp4() -> None:
    header = parse_proxy_header(V1_TCP4 + b"GET / HTTP/1.1\r\n")
    assert header is not None
    assert (header.version, header.length) == (1, len(V1_TCP4))
    assert header.client == ("192.168.0.1", 56324)
    assert header.server == ("192.168.0.11", 443)
    assert not header.local and not header.unix and not header.tls


def test_v1_tcp6() -> None:
    header = parse_proxy_header(V1_TCP6)
    assert header is not None
    assert header.client == ("2001:db8::1", 65535)
    assert header.server == ("2001:db8::2", 0)


@pytest.mark.parametrize("line", [b"PROXY UNKNOWN\r\n", V1_WORST, b"PROXY UNKNOWN anything\r\n"])
def test_v1_unknown_means_the_real_addresses(line: bytes) -> None:
    """Section 2.1: the receiver must ignore anything before the CRLF and use the real
    connection's parameters."""
    header = parse_proxy_header(line + b"GET")
    assert header is not None
    assert header.local and header.client is None and header.server is None
    assert header.length == len(line)


def test_the_worst_case_v1_line_is_107_bytes() -> None:
    assert len(V1_WORST) == MAX_V1_LENGTH


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",  # heading zero in an address
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",  # heading zero in a port
        b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 ::1 ::2 1 2\r\n",  # family mismatch
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::2 1 2\r\n",  # more than 128 bits
        b"PROXY TCP6 [::1] ::2 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",  # a field missing
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",  # a field too many
        b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",  # two spaces
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY UNKNOWNX\r\n",
        b"PROXY \r\n",
        b"PROXY\r\n",
        b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",  # LF without CR
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",  # a lone CR
        b"PROXY UNKNOWN \n\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 \xd9\xa1 2\r\n",  # a non-ASCII digit
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # no header at all
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
    ],
)
def test_v1_malformed_lines_are_errors(line: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(line)


def test_v1_without_crlf_in_107_bytes_is_an_error() -> None:
    line = b"PROXY UNKNOWN " + b"x" * (MAX_V1_LENGTH - 14)
    assert len(line) == MAX_V1_LENGTH
    with pytest.raises(ProxyHeaderError, match="CRLF"):
        parse_proxy_header(line)
    # One byte less is still a possible beginning.
    assert parse_proxy_header(line[:-1]) is None
    # A CRLF that would end at byte 108 is too late.
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(line[:-1] + b"\r\n")


def test_v1_errors_show_before_the_line_is_complete() -> None:
    """Section 2.1: abort "as soon as possible"."""
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(b"PROXZ")
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(b"PROXY TCP4 1.2.3.4\n")


# -- version 2 ---------------------------------------------------------------------


def test_v2_tcp4() -> None:
    header = parse_proxy_header(V2_TCP4 + b"GET")
    assert header is not None
    assert (header.version, header.length) == (2, len(V2_TCP4))
    assert header.client == ("203.0.113.7", 4242)
    assert header.server == ("10.0.0.1", 80)
    assert not header.local and not header.tls


def test_v2_tcp6() -> None:
    header = parse_proxy_header(V2_TCP6)
    assert header is not None
    assert header.client == ("2001:db8::7", 1)
    assert header.server == ("2001:db8::1", 8443)


def test_v2_udp_addresses_are_used_too() -> None:
    data = v2(PROXY_V2, UDP4, inet4_block(bytes([1, 2, 3, 4]), bytes([5, 6, 7, 8]), 53, 853))
    header = parse_proxy_header(data)
    assert header is not None and header.client == ("1.2.3.4", 53)


def test_v2_unix_addresses() -> None:
    block = b"/run/client.sock".ljust(108, b"\x00") + b"/run/haproxy.sock".ljust(108, b"\x00")
    header = parse_proxy_header(v2(PROXY_V2, UNIX_STREAM, block))
    assert header is not None
    assert header.unix and header.client is None
    assert header.server == ("/run/haproxy.sock", None)


def test_v2_local_ignores_the_address_block() -> None:
    """Section 2.2: LOCAL must use the real endpoints and discard the block, family too."""
    data = v2(LOCAL_V2, TCP4, inet4_block(b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 1, 2))
    header = parse_proxy_header(data + b"GET")
    assert header is not None
    assert header.local and header.client is None and header.length == len(data)
    empty = parse_proxy_header(v2(LOCAL_V2, UNSPEC, b""))
    assert empty is not None and empty.local and empty.length == 16


def test_v2_unspec_family_means_the_real_addresses() -> None:
    header = parse_proxy_header(v2(PROXY_V2, UNSPEC, b"ignored"))
    assert header is not None and header.local and header.length == 16 + 7
    header = parse_proxy_header(v2(PROXY_V2, 0x10, b"x" * 12))  # INET, transport UNSPEC
    assert header is not None and header.local


def test_v2_tlvs_are_skipped() -> None:
    block = inet4_block(b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 1, 2)
    tlvs = tlv(0x04, b"\x00" * 5) + tlv(0x05, b"unique-id") + tlv(0x02, b"example.com")
    header = parse_proxy_header(v2(PROXY_V2, TCP4, block + tlvs) + b"GET")
    assert header is not None
    assert header.client == ("1.2.3.4", 1)
    assert header.length == 16 + len(block) + len(tlvs)
    assert not header.tls


def test_v2_ssl_tlv_says_the_client_used_tls() -> None:
    block = inet4_block(b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 1, 2)
    ssl_value = b"\x01" + b"\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3")
    header = parse_proxy_header(v2(PROXY_V2, TCP4, block + tlv(0x20, ssl_value)))
    assert header is not None and header.tls
    without_flag = b"\x00" + b"\x00\x00\x00\x00"
    header = parse_proxy_header(v2(PROXY_V2, TCP4, block + tlv(0x20, without_flag)))
    assert header is not None and not header.tls


@pytest.mark.parametrize(
    "data",
    [
        V2_SIGNATURE + bytes([0x11, TCP4]) + b"\x00\x0c" + b"\x00" * 12,  # version 1
        V2_SIGNATURE + bytes([0x31, TCP4]) + b"\x00\x0c" + b"\x00" * 12,  # version 3
        V2_SIGNATURE + bytes([0x22, TCP4]) + b"\x00\x0c" + b"\x00" * 12,  # command 2
        V2_SIGNATURE + bytes([0x2F, TCP4]) + b"\x00\x0c" + b"\x00" * 12,  # command 15
        V2_SIGNATURE + bytes([PROXY_V2, 0x41]) + b"\x00\x0c" + b"\x00" * 12,  # family 4
        V2_SIGNATURE + bytes([PROXY_V2, 0x13]) + b"\x00\x0c" + b"\x00" * 12,  # transport 3
        v2(PROXY_V2, TCP4, b"\x00" * 11),  # too short for IPv4
        v2(PROXY_V2, TCP6, b"\x00" * 35),  # too short for IPv6
        v2(PROXY_V2, UNIX_STREAM, b"\x00" * 215),  # too short for AF_UNIX
        v2(PROXY_V2, TCP4, b"\x00" * 12 + b"\x04\x00"),  # truncated TLV head
        v2(PROXY_V2, TCP4, b"\x00" * 12 + b"\x04\x00\x05abc"),  # TLV longer than the header
        b"\r\n\r\n\x00\r\nQUIX\n",  # signature mismatch
        b"\r\n\r\nGET",
    ],
)
def test_v2_malformed_headers_are_errors(data: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(data)


def test_v2_errors_show_as_soon_as_the_byte_arrives() -> None:
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(V2_SIGNATURE + b"\x13")  # version 1 in byte 13
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(V2_SIGNATURE + b"\x21\x51")  # family 5 in byte 14


def test_v2_largest_header() -> None:
    block = inet4_block(b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 1, 2)
    padding = tlv(0x04, b"\x00" * (0xFFFF - len(block) - 3))
    data = v2(PROXY_V2, TCP4, block + padding)
    assert len(data) == MAX_V2_LENGTH
    assert parse_proxy_header(data[:-1]) is None
    header = parse_proxy_header(data + b"GET")
    assert header is not None and header.length == MAX_V2_LENGTH


# -- incremental input ---------------------------------------------------------------


@pytest.mark.parametrize("data", VALID, ids=lambda d: d[:20].hex())
def test_every_prefix_of_a_valid_header_needs_more(data: bytes) -> None:
    for end in range(len(data)):
        assert parse_proxy_header(data[:end]) is None, data[:end]
    assert isinstance(parse_proxy_header(data), ProxyHeader)


# -- random input ----------------------------------------------------------------------

_prefixes = st.sampled_from([b"", b"PROXY ", b"PROXY TCP4 ", b"PROXY UNKNOWN", V2_SIGNATURE])


@settings(max_examples=500, deadline=None)
@given(_prefixes, st.binary(max_size=300))
def test_random_input_is_a_header_more_or_a_proxy_error(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    try:
        header = parse_proxy_header(data)
    except ProxyHeaderError:
        return
    if header is not None:
        assert 0 < header.length <= len(data)
        assert header.length <= MAX_V2_LENGTH


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.integers(min_value=0, max_value=200), st.binary(max_size=64))
def test_truncated_or_extended_headers(valid: bytes, cut: int, extra: bytes) -> None:
    """A cut header needs more; a complete one parses the same whatever follows it."""
    cut = min(cut, len(valid) - 1)
    assert parse_proxy_header(valid[:cut]) is None
    alone = parse_proxy_header(valid)
    followed = parse_proxy_header(valid + extra)
    assert alone is not None and followed is not None
    assert repr(alone) == repr(followed)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_one_corrupted_byte_never_raises_anything_else(valid: bytes, where: int, byte: int) -> None:
    data = bytearray(valid)
    data[where % len(data)] = byte
    try:
        parse_proxy_header(bytes(data))
    except ProxyHeaderError:
        pass
