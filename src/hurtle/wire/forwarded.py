"""Which peers to trust, and what their proxy headers say, without I/O.

Theory of operation
-------------------
A reverse proxy connects to hurtle on behalf of a client and tells who the
client is in request headers: `X-Forwarded-For`, `X-Forwarded-Proto` and
`X-Forwarded-Host` (a convention), or `Forwarded` (RFC 7239). Anybody can
send those headers, so they mean something only when the peer that sent
them is a proxy the operator trusts (`TrustedPeers`), and even then only
the part that trusted proxies wrote: every proxy appends to what it
received, so the values on the left may come from the client itself.

Both readers therefore walk the list of hops from the right, the hop the
connecting proxy added, and stop at the first hop whose address is not
trusted: that address is the client's. When every hop is trusted, the
leftmost is the client. A client on a trusted address can still write
anything to the left of its own hop, which is why the allow list should
name proxies only.

- `read_x_forwarded` returns the client of X-Forwarded-For, and the
  rightmost value of X-Forwarded-Proto and X-Forwarded-Host: the value the
  connecting proxy set (those two headers carry no per-hop address).
- `read_forwarded` parses RFC 7239 strictly and takes `for=`, `proto=` and
  `host=` from the same element: the hop where the walk stopped, which a
  trusted proxy wrote.

A value that is not what its header allows (an X-Forwarded-For entry that is
not an IP address, a scheme other than http/https/ws/wss, a host that is not
`host[:port]`, a Forwarded line that does not parse) is ignored, never
passed on half-read. Nothing here imports asyncio, socket, ssl or time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "SCHEMES",
    "Forwarded",
    "TrustedPeers",
    "parse_forwarded_line",
    "parse_node",
    "read_forwarded",
    "read_x_forwarded",
    "valid_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The entry of --forwarded-allow-ips that trusts Unix socket peers.
UNIX = "unix"
# What X-Forwarded-Proto and proto= may say: the schemes of the ASGI scope.
SCHEMES = frozenset({"http", "https", "ws", "wss"})


class TrustedPeers:
    """The peers whose proxy headers count: IP addresses, networks, `unix`, `*`.

    Built from the --forwarded-allow-ips entries; an entry may hold several
    comma-separated items. Raises ValueError, with a message for the user, on
    an item that is none of those. IPv4-mapped IPv6 addresses
    (`::ffff:10.0.0.1`, how a dual-stack socket shows an IPv4 peer) match the
    IPv4 networks too.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self.trust_all = False
        self.trust_unix = False
        networks: list[IPNetwork] = []
        for entry in entries:
            for item in entry.split(","):
                item = item.strip()
                if not item:
                    continue
                if item == "*":
                    self.trust_all = True
                elif item.lower() == UNIX:
                    self.trust_unix = True
                else:
                    networks.append(_network(item))
        self.networks = tuple(networks)

    def __contains__(self, address: object) -> bool:
        """Whether an IP address (a string or an ipaddress object) is trusted."""
        if self.trust_all:
            return True
        if isinstance(address, str):
            parsed = parse_ip(address)
            if parsed is None:
                return False
        elif isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            parsed = address
        else:
            return False
        return self.trusts_ip(parsed)

    def trusts_ip(self, address: IPAddress) -> bool:
        if self.trust_all:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            mapped = address.ipv4_mapped
            if any(mapped in network for network in self.networks):
                return True
        return any(address in network for network in self.networks)

    def trusts_peer(self, host: str | None, unix: bool) -> bool:
        """Whether a connection's peer is trusted: its IP, or a Unix socket peer."""
        if self.trust_all:
            return True
        if unix:
            return self.trust_unix
        return host is not None and host in self


def _network(item: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(item.strip("[]") if "/" not in item else item)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            base = ipaddress.ip_network(item, strict=False)
            raise ValueError(f"{item!r} has host bits set; did you mean {base}?") from None
        raise ValueError(
            f"{item!r} is not an IP address, a network (CIDR), 'unix' or '*'"
        ) from None


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(slots=True)
class Forwarded:
    """What trusted proxies say about a request; None where they say nothing usable.

    `client` is an (address, port) pair; `client_unknown` is set when a
    trusted proxy declared the client's address hidden or unknown (RFC 7239
    `for=unknown` or an obfuscated identifier). `scheme` is one of SCHEMES
    and `host` a validated `host[:port]`.
    """

    client: tuple[str, int] | None = None
    scheme: str | None = None
    host: bytes | None = None
    client_unknown: bool = False


# -- X-Forwarded-* -------------------------------------------------------------------


def read_x_forwarded(
    for_values: list[bytes],
    proto_values: list[bytes],
    host_values: list[bytes],
    trusted: TrustedPeers,
) -> Forwarded:
    """The client of X-Forwarded-For and the scheme and host of X-Forwarded-Proto/-Host.

    Each argument holds the values of every header line of that name, in
    order (RFC 9110 section 5.3: several lines are one comma-separated list).
    """
    result = Forwarded()
    if for_values:
        result.client = _x_forwarded_client(for_values, trusted)
    if proto_values:
        scheme = _last_item(proto_values).lower()
        if scheme in SCHEMES:
            result.scheme = scheme
    if host_values:
        host = _last_item(host_values).encode("latin-1")
        if valid_host(host):
            result.host = host
    return result


def _x_forwarded_client(values: list[bytes], trusted: TrustedPeers) -> tuple[str, int] | None:
    # RFC 9110 section 5.6.1: empty list elements are ignored.
    entries = [item.strip() for item in b",".join(values).decode("latin-1").split(",")]
    entries = [item for item in entries if item]
    for index in range(len(entries) - 1, -1, -1):
        address = _x_forwarded_address(entries[index])
        if address is None:
            # Not an address: nothing left of it can be trusted, and nothing
            # names the client. The client stays the connecting peer.
            return None
        if index > 0 and trusted.trusts_ip(address[0]):
            continue
        return str(address[0]), address[1]
    return None


def _x_forwarded_address(entry: str) -> tuple[IPAddress, int] | None:
    """An entry of X-Forwarded-For: an IP, with a port in `1.2.3.4:5` or `[::1]:5` form."""
    port = 0
    if entry.startswith("["):
        close = entry.find("]")
        if close < 0:
            return None
        rest = entry[close + 1 :]
        if rest:
            if not rest.startswith(":") or not _is_port(rest[1:]):
                return None
            port = int(rest[1:])
        entry = entry[1:close]
    elif entry.count(":") == 1:
        entry, _, text = entry.partition(":")
        if not _is_port(text):
            return None
        port = int(text)
    address = parse_ip(entry)
    return None if address is None else (address, port)


def _last_item(values: list[bytes]) -> str:
    items = [item.strip() for item in values[-1].decode("latin-1").split(",")]
    items = [item for item in items if item]
    return items[-1] if items else ""


def _is_port(text: str) -> bool:
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit() and int(text) <= 0xFFFF


# RFC 3986 section 3.2.2 host, narrowed: a DNS-style name, an IPv4 address or
# a bracketed IPv6 literal, then an optional port. The narrower reg-name keeps
# characters with a meaning in URLs or headers out of what the app rebuilds
# URLs from.
_HOST = re.compile(
    rb"(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?\.?|\[[0-9A-Fa-f:.]{2,45}\])"
    rb"(?::[0-9]{1,5})?"
)


def valid_host(host: bytes) -> bool:
    """Whether `host` is `host[:port]` in the narrow form hurtle passes on."""
    if _HOST.fullmatch(host) is None:
        return False
    if host.startswith(b"["):
        literal = host[1 : host.index(b"]")].decode("ascii")
        if parse_ip(literal) is None or ":" not in literal:
            return False
        port = host[host.index(b"]") + 1 :]
    else:
        port = host[host.find(b":") :] if b":" in host else b""
    return not port or int(port[1:]) <= 0xFFFF


# -- Forwarded (RFC 7239) ------------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# RFC 7239 section 4: forwarded-pair = token "=" value, value = token /
# quoted-string (RFC 9110 section 5.6.4: qdtext and quoted-pair).
_PAIR = re.compile(
    rf"[ \t]*({_TOKEN})=(?:({_TOKEN})|\"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)\")[ \t]*"
)
_SEPARATOR = re.compile(r"[ \t]*([;,]|\Z)[ \t]*")
_QUOTED_PAIR = re.compile(r"\\(.)")
# RFC 7239 section 6: obfnode and obfport.
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")


def parse_forwarded_line(line: str) -> list[dict[str, str]] | None:
    """The elements of one Forwarded field line, or None if it is not valid RFC 7239.

    Parameter names are lower-cased; values are unquoted. Empty elements and
    empty pairs are allowed (section 4 grammar); a parameter given twice in
    one element is not (section 4: "MUST NOT occur more than once").
    """
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    position = 0
    length = len(line)
    while True:
        pair = _PAIR.match(line, position)
        if pair is not None:
            name = pair.group(1).lower()
            if name in element:
                return None
            token, quoted = pair.group(2), pair.group(3)
            element[name] = token if token is not None else _QUOTED_PAIR.sub(r"\1", quoted)
            position = pair.end()
        separator = _SEPARATOR.match(line, position)
        if separator is None:
            return None
        position = separator.end()
        mark = separator.group(1)
        if mark == ";":
            continue
        if element:
            elements.append(element)
            element = {}
        if mark == "" or position >= length:
            return elements


def parse_node(node: str) -> tuple[IPAddress, int] | bool | None:
    """An RFC 7239 section 6 node: (address, port), False if unknown or obfuscated,
    None if it is not a valid node.

    IPv6 addresses must be in brackets; a port may follow (0 when absent or
    obfuscated).
    """
    port = 0
    address: IPAddress | None
    if node.startswith("["):
        close = node.find("]")
        if close < 0:
            return None
        name, rest = node[1:close], node[close + 1 :]
        address = parse_ip(name)
        if not isinstance(address, ipaddress.IPv6Address):
            return None
    else:
        name, colon, port_text = node.partition(":")
        rest = colon + port_text
        if name == "unknown" or _OBFUSCATED.fullmatch(name):
            address = None
        else:
            parsed = parse_ip(name)
            if not isinstance(parsed, ipaddress.IPv4Address):
                return None
            address = parsed
    if rest:
        port_text = rest[1:]
        if not rest.startswith(":"):
            return None
        if _is_port(port_text):
            port = int(port_text)
        elif _OBFUSCATED.fullmatch(port_text) is None:
            return None
    if address is None:
        return False
    return address, port


def read_forwarded(lines: list[bytes], trusted: TrustedPeers) -> Forwarded | None:
    """What the Forwarded header lines say, or None if they say nothing usable.

    Lines are read from the last one back, each parsed on its own, so a
    malformed line that a client sent ahead of its proxy's own line does not
    hide the proxy's line. Reaching a malformed line, or an element whose
    `for=` is not a valid node, ignores the header altogether.
    """
    chosen: dict[str, str] | None = None
    for raw in reversed(lines):
        elements = parse_forwarded_line(raw.decode("latin-1"))
        if elements is None:
            return None
        for element in reversed(elements):
            chosen = element
            node_text = element.get("for")
            if node_text is None:
                break  # Nothing says who connected to that proxy: stop here.
            node = parse_node(node_text)
            if node is None:
                return None
            if not (isinstance(node, tuple) and trusted.trusts_ip(node[0])):
                break
        else:
            continue
        break
    if chosen is None:
        return None
    result = Forwarded()
    node_text = chosen.get("for")
    if node_text is not None:
        node = parse_node(node_text)
        if isinstance(node, tuple):
            result.client = (str(node[0]), node[1])
        else:
            result.client_unknown = True
    proto = chosen.get("proto", "").lower()
    if proto in SCHEMES:
        result.scheme = proto
    host = chosen.get("host")
    if host is not None:
        encoded = host.encode("latin-1")
        if valid_host(encoded):
            result.host = encoded
    return result
