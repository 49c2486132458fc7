"""Trusted peers, X-Forwarded-* and RFC 7239 Forwarded, as pure functions."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hurtle.wire.forwarded import (
    Forwarded,
    TrustedPeers,
    parse_forwarded_line,
    parse_node,
    read_forwarded,
    read_x_forwarded,
    valid_host,
)

LOCAL = TrustedPeers(["127.0.0.1"])
PROXIES = TrustedPeers(["127.0.0.1", "10.0.0.0/8, 2001:db8:ffff::/48"])

# -- the allow list -----------------------------------------------------------------


def test_addresses_and_networks() -> None:
    assert "127.0.0.1" in LOCAL
    assert "127.0.0.2" not in LOCAL
    assert "10.200.0.1" in PROXIES
    assert "11.0.0.1" not in PROXIES
    assert "2001:db8:ffff::5" in PROXIES
    assert "2001:db8:fffe::5" not in PROXIES
    assert ipaddress.ip_address("10.0.0.1") in PROXIES


def test_ipv4_mapped_ipv6_peers_match_ipv4_entries() -> None:
    """A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d."""
    assert "::ffff:127.0.0.1" in LOCAL
    assert "::ffff:127.0.0.2" not in LOCAL


def test_not_an_address_is_not_trusted() -> None:
    assert "localhost" not in LOCAL
    assert "" not in LOCAL
    assert None not in LOCAL


def test_star_trusts_every_peer_and_unix_sockets() -> None:
    everyone = TrustedPeers(["*"])
    assert "203.0.113.1" in everyone
    assert "anything" in everyone
    assert everyone.trusts_peer(None, unix=True)


def test_unix_socket_peers_need_the_unix_entry() -> None:
    assert not LOCAL.trusts_peer(None, unix=True)
    assert TrustedPeers(["unix"]).trusts_peer(None, unix=True)
    assert not TrustedPeers(["unix"]).trusts_peer("127.0.0.1", unix=False)
    assert TrustedPeers(["UNIX,127.0.0.1"]).trusts_peer("127.0.0.1", unix=False)


def test_entries_split_on_commas_and_ignore_blanks() -> None:
    peers = TrustedPeers(["127.0.0.1, ,10.0.0.0/8", ""])
    assert len(peers.networks) == 2


def test_bracketed_ipv6_entry() -> None:
    assert "::1" in TrustedPeers(["[::1]"])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("localhost", "not an IP address"),
        ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
        ("300.0.0.1", "not an IP address"),
        ("10.0.0.0/33", "not an IP address"),
        ("unix:/run/x.sock", "not an IP address"),
    ],
)
def test_bad_entries_are_rejected(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrustedPeers([entry])


# -- X-Forwarded-For ----------------------------------------------------------------


def client_of(*values: bytes, trusted: TrustedPeers = PROXIES) -> tuple[str, int] | None:
    return read_x_forwarded(list(values), [], [], trusted).client


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    # client -> 10.0.0.1 -> 10.0.0.2 -> hurtle; the client wrote 198.51.100.1 itself.
    assert client_of(b"198.51.100.1, 203.0.113.5, 10.0.0.1, 10.0.0.2") == ("203.0.113.5", 0)


def test_one_hop() -> None:
    assert client_of(b"203.0.113.5") == ("203.0.113.5", 0)
    assert client_of(b"  203.0.113.5  ") == ("203.0.113.5", 0)


def test_every_hop_trusted_gives_the_leftmost() -> None:
    assert client_of(b"10.0.0.9, 10.0.0.1") == ("10.0.0.9", 0)


def test_several_header_lines_are_one_list() -> None:
    assert client_of(b"203.0.113.5", b"10.0.0.1") == ("203.0.113.5", 0)
    assert client_of(b"10.0.0.1", b"203.0.113.5") == ("203.0.113.5", 0)


def test_empty_list_elements_are_skipped() -> None:
    assert client_of(b"203.0.113.5,, 10.0.0.1 ,") == ("203.0.113.5", 0)


@pytest.mark.parametrize(
    ("value", "client"),
    [
        (b"203.0.113.5:4711", ("203.0.113.5", 4711)),
        (b"2001:db8::5", ("2001:db8::5", 0)),
        (b"[2001:db8::5]", ("2001:db8::5", 0)),
        (b"[2001:db8::5]:4711", ("2001:db8::5", 4711)),
        (b"2001:DB8:0::5", ("2001:db8::5", 0)),
    ],
)
def test_address_forms(value: bytes, client: tuple[str, int]) -> None:
    assert client_of(value) == client


@pytest.mark.parametrize(
    "value",
    [
        b"unknown",
        b"not-an-ip",
        b"203.0.113.5:99999",
        b"203.0.113.5:",
        b"[2001:db8::5",
        b"[2001:db8::5]x",
        b"203.0.113.256",
        b"198.51.100.1 203.0.113.5",
    ],
)
def test_a_hop_that_is_not_an_address_leaves_the_client_alone(value: bytes) -> None:
    assert client_of(value) is None
    assert client_of(value, b"10.0.0.1") is None


def test_an_empty_list_names_no_client() -> None:
    assert client_of(b"") is None
    assert client_of(b" , ") is None


def test_garbage_left_of_the_client_does_not_matter() -> None:
    assert client_of(b"<script>, 203.0.113.5, 10.0.0.1") == ("203.0.113.5", 0)


# -- X-Forwarded-Proto and X-Forwarded-Host -------------------------------------------


@pytest.mark.parametrize(
    ("values", "scheme"),
    [
        ([b"https"], "https"),
        ([b"HTTPS"], "https"),
        ([b"http"], "http"),
        ([b"wss"], "wss"),
        ([b"ws"], "ws"),
        ([b"http, https"], "https"),  # the value the nearest proxy set
        ([b"https", b"http"], "http"),
        ([b"ftp"], None),
        ([b"javascript"], None),
        ([b""], None),
        ([b"https;"], None),
    ],
)
def test_x_forwarded_proto(values: list[bytes], scheme: str | None) -> None:
    assert read_x_forwarded([], values, [], LOCAL).scheme == scheme


@pytest.mark.parametrize(
    ("values", "host"),
    [
        ([b"example.com"], b"example.com"),
        ([b"example.com:8443"], b"example.com:8443"),
        ([b"[2001:db8::1]:443"], b"[2001:db8::1]:443"),
        ([b"203.0.113.5"], b"203.0.113.5"),
        ([b"a.example, b.example"], b"b.example"),
        ([b"evil.example/path"], None),
        ([b"evil.example@x"], None),
        ([b"example.com:99999"], None),
        ([b"example.com:"], None),
        ([b"[not-ipv6]"], None),
        ([b"[1.2.3.4]"], None),
        ([b""], None),
        ([b"-bad.example"], None),
    ],
)
def test_x_forwarded_host(values: list[bytes], host: bytes | None) -> None:
    assert read_x_forwarded([], [], values, LOCAL).host == host


def test_nothing_given_says_nothing() -> None:
    assert read_x_forwarded([], [], [], LOCAL) == Forwarded()


# -- Forwarded (RFC 7239) -------------------------------------------------------------


def test_parse_rfc_7239_examples() -> None:
    """The examples of RFC 7239 sections 4 and 7.1."""
    assert parse_forwarded_line('for="_gazonk"') == [{"for": "_gazonk"}]
    assert parse_forwarded_line('For="[2001:db8:cafe::17]:4711"') == [
        {"for": "[2001:db8:cafe::17]:4711"}
    ]
    assert parse_forwarded_line("for=192.0.2.60;proto=http;by=203.0.113.43") == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}
    ]
    assert parse_forwarded_line("for=192.0.2.43, for=198.51.100.17") == [
        {"for": "192.0.2.43"},
        {"for": "198.51.100.17"},
    ]


def test_parse_quoted_strings() -> None:
    assert parse_forwarded_line(r'for="a\"b";host="x,y;z=1"') == [{"for": 'a"b', "host": "x,y;z=1"}]
    assert parse_forwarded_line('for="", for=x') == [{"for": ""}, {"for": "x"}]


def test_parse_empty_elements_and_pairs() -> None:
    assert parse_forwarded_line(" , for=x ;; proto=https ,, ") == [{"for": "x", "proto": "https"}]
    assert parse_forwarded_line("") == []


@pytest.mark.parametrize(
    "line",
    [
        "for=x;for=y",  # a parameter twice in one element
        "for=x;FOR=y",
        'for="unterminated',
        "for=[::1]",  # an IPv6 node must be quoted
        "for = x",
        "for",
        "=x",
        "for=x y",
        'for="x"y',
        "for=x;;proto",
        'for="\x01"',
        "for=é",
    ],
)
def test_parse_rejects_what_is_not_rfc_7239(line: str) -> None:
    assert parse_forwarded_line(line) is None


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ("192.0.2.43", (ipaddress.ip_address("192.0.2.43"), 0)),
        ("192.0.2.43:47011", (ipaddress.ip_address("192.0.2.43"), 47011)),
        ("192.0.2.43:_port", (ipaddress.ip_address("192.0.2.43"), 0)),
        ("[2001:db8:cafe::17]", (ipaddress.ip_address("2001:db8:cafe::17"), 0)),
        ("[2001:db8:cafe::17]:4711", (ipaddress.ip_address("2001:db8:cafe::17"), 4711)),
        ("unknown", False),
        ("_hidden", False),
        ("_SEVKISEK", False),
        ("unknown:1234", False),
        ("2001:db8::17", None),  # IPv6 without brackets
        ("[192.0.2.43]", None),
        ("[2001:db8::17", None),
        ("192.0.2.43:", None),
        ("192.0.2.43:99999", None),
        ("192.0.2.43:port", None),
        ("[2001:db8::17]x", None),
        ("host.example", None),
        ("_", None),
        ("_bad!", None),
        ("", None),
    ],
)
def test_nodes(node: str, expected: object) -> None:
    assert parse_node(node) == expected


def forwarded(*lines: bytes, trusted: TrustedPeers = PROXIES) -> Forwarded | None:
    return read_forwarded(list(lines), trusted)


def test_forwarded_walks_from_the_right() -> None:
    result = forwarded(
        b'for=198.51.100.1;proto=http, for="[2001:db8::7]:4711";proto=https;host=example.com, '
        b"for=10.0.0.1;proto=http;host=internal"
    )
    assert result == Forwarded(("2001:db8::7", 4711), "https", b"example.com")


def test_forwarded_all_trusted_gives_the_leftmost() -> None:
    assert forwarded(b"for=10.0.0.5;proto=https, for=10.0.0.1") == Forwarded(
        ("10.0.0.5", 0), "https"
    )


def test_forwarded_lines_are_read_from_the_last() -> None:
    """A malformed line the client sent ahead of the proxy's own does not hide it."""
    assert forwarded(b'for="broken', b"for=203.0.113.5;proto=https") == Forwarded(
        ("203.0.113.5", 0), "https"
    )
    # Reached only because every hop after it is trusted: ignored altogether.
    assert forwarded(b'for="broken', b"for=10.0.0.1") is None


def test_forwarded_unknown_and_obfuscated_clients() -> None:
    assert forwarded(b"for=unknown;proto=https") == Forwarded(None, "https", None, True)
    assert forwarded(b'for="_hidden:_port"') == Forwarded(client_unknown=True)


def test_forwarded_element_without_for_stops_the_walk() -> None:
    """Nothing says who connected to that proxy: the client stays the peer."""
    assert forwarded(b"for=203.0.113.5, proto=https;host=example.com") == Forwarded(
        None, "https", b"example.com"
    )


def test_forwarded_invalid_node_ignores_the_header() -> None:
    assert forwarded(b'for="2001:db8::1";proto=https') is None
    assert forwarded(b"for=not-an-ip;proto=https") is None


def test_forwarded_bad_proto_and_host_are_dropped() -> None:
    assert forwarded(b'for=203.0.113.5;proto=gopher;host="a b"') == Forwarded(("203.0.113.5", 0))


def test_forwarded_proto_is_case_insensitive() -> None:
    result = forwarded(b"for=203.0.113.5;PROTO=HTTPS")
    assert result is not None and result.scheme == "https"


def test_forwarded_with_nothing_usable() -> None:
    assert forwarded(b"") is None
    assert forwarded(b" , ") is None


# -- hosts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        b"example.com",
        b"a",
        b"example.com.",
        b"x_y.example:80",
        b"[::1]",
        b"[::1]:65535",
        b"1.2.3.4",
    ],
)
def test_valid_hosts(host: bytes) -> None:
    assert valid_host(host)


@pytest.mark.parametrize(
    "host",
    [
        b"",
        b":80",
        b"a b",
        b"a/b",
        b"a?b",
        b"a#b",
        b"a,b",
        b"[::1",
        b"[::1]:",
        b"[x]",
        b"a:b:c",
        b"\xff",
    ],
)
def test_invalid_hosts(host: bytes) -> None:
    assert not valid_host(host)


# -- random input ---------------------------------------------------------------------

_header_text = st.text(
    alphabet=st.sampled_from(list('for=proto;host,"\\[]:_. \t19aZ2001db8unknown\x80é')),
    max_size=80,
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_header_text, max_size=3))
def test_random_forwarded_never_raises(lines: list[str]) -> None:
    encoded = [line.encode("latin-1", "replace") for line in lines]
    result = read_forwarded(encoded, PROXIES)
    if result is not None and result.host is not None:
        assert valid_host(result.host)
    for line in lines:
        parse_forwarded_line(line)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=3), st.lists(st.binary(max_size=20), max_size=2))
def test_random_x_forwarded_never_raises(values: list[bytes], others: list[bytes]) -> None:
    result = read_x_forwarded(values, others, others, PROXIES)
    if result.client is not None:
        ipaddress.ip_address(result.client[0])
    assert result.scheme in (None, "http", "https", "ws", "wss")
