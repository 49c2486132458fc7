"""The PROXY protocol, versions 1 and 2, without I/O: bytes in, addresses out.

A proxy that relays TCP connections (HAProxy `send-proxy`, AWS NLB, many
Kubernetes ingress controllers) writes one header in front of the client's
bytes that names the connection it relays: the client's address and port
and the address and port it connected to. The specification is HAProxy's
doc/proxy-protocol.txt ("The PROXY protocol", versions 1 and 2); section
numbers below are from it.

Theory of operation
-------------------
`parse_proxy_header(data)` looks at the bytes received so far and returns

    None            the bytes are a valid beginning: wait for more;
    ProxyHeader     a complete header, `length` bytes long; what follows it
                    is the client's own data;
    raises ProxyHeaderError  the bytes cannot begin a valid header: the
                    connection must be closed (section 2.1: "Any sequence
                    which does not exactly match the protocol must be
                    discarded and cause the receiver to abort the
                    connection").

It is called again with the longer buffer after each read, and never needs
more than MAX_V1_LENGTH bytes of a version 1 header or 16 + 65535 bytes of a
version 2 header: a version 1 line without its CRLF in 107 bytes is an error.
Invalid bytes are reported as soon as they arrive, not only once the header
is complete, so a peer that is not speaking the protocol is dropped early.

A `ProxyHeader` with `local` set says "use the connection's own addresses":
version 2's LOCAL command (a health check by the proxy itself), version 1's
UNKNOWN and version 2's UNSPEC family or transport.

Nothing here imports asyncio, socket, ssl or time (a test enforces it).
"""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "MAX_V1_LENGTH",
    "MAX_V2_LENGTH",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyHeaderError",
    "parse_proxy_header",
]

# Section 2.1: "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n".
MAX_V1_LENGTH = 107
# Section 2.2: a 16-byte fixed part and at most 65535 bytes of addresses and TLVs.
MAX_V2_LENGTH = 16 + 0xFFFF
# Section 2.2: the 12-byte signature of version 2.
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_PREFIX = b"PROXY "

# Section 2.2: the lengths of the address block, by family nibble (INET,
# INET6, UNIX); the ports follow INET and INET6 addresses.
_ADDRESS_LENGTHS = {0x1: 12, 0x2: 36, 0x3: 216}
_PP2_TYPE_SSL = 0x20  # Section 2.2.6.
_PP2_CLIENT_SSL = 0x01

# Section 2.1: decimal without leading zeroes, and 4 dotted decimals or hex
# groups with colons. ipaddress checks the ranges and the IPv6 structure.
_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")
_IPV4 = re.compile(rb"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_IPV6 = re.compile(rb"[0-9A-Fa-f:]{2,39}")


class ProxyHeaderError(ValueError):
    """The bytes are not a valid PROXY protocol header; close the connection."""


class ProxyHeader:
    """A complete PROXY header.

    `client` and `server` are (address, port) of the relayed connection's
    source and destination. For a relayed Unix socket connection (version 2,
    AF_UNIX) `unix` is set, `client` is None and `server` is (path, None).
    When `local` is set they are None: the connection's own addresses apply.
    `tls` is set when a version 2 PP2_TYPE_SSL TLV says that the client
    connected to the proxy over TLS.
    """

    __slots__ = ("client", "length", "local", "server", "tls", "unix", "version")

    def __init__(
        self,
        version: int,
        length: int,
        client: tuple[str, int] | None = None,
        server: tuple[str, int | None] | None = None,
        *,
        local: bool = False,
        unix: bool = False,
        tls: bool = False,
    ) -> None:
        self.version = version
        self.length = length
        self.client = client
        self.server = server
        self.local = local
        self.unix = unix
        self.tls = tls

    def __repr__(self) -> str:
        return (
            f"ProxyHeader(v{self.version}, length={self.length}, client={self.client!r}, "
            f"server={self.server!r}, local={self.local}, unix={self.unix}, tls={self.tls})"
        )


def parse_proxy_header(data: bytes) -> ProxyHeader | None:
    """The header at the start of `data`, None if incomplete; raises ProxyHeaderError."""
    if data[:1] == b"P":
        return _parse_v1(data)
    if data[:1] == b"\r":
        return _parse_v2(data)
    if not data:
        return None
    # Section 2.2, "Identifying the protocol version": anything else "is not
    # covered by this specification and the connection must be dropped".
    raise ProxyHeaderError("the connection does not start with a PROXY protocol header")


# -- version 1: one line of text (section 2.1) -------------------------------------


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, MAX_V1_LENGTH)
    if end < 0:
        head = data[:MAX_V1_LENGTH]
        if not _V1_PREFIX.startswith(head[:6]):
            raise ProxyHeaderError("not a PROXY protocol version 1 line")
        # "The receiver must not tolerate a single CR or LF character to end
        # the line": a lone LF, or a CR followed by anything but LF.
        if b"\n" in head or b"\r" in head[:-1]:
            raise ProxyHeaderError("PROXY line not ended by CRLF")
        if len(data) >= MAX_V1_LENGTH:
            raise ProxyHeaderError(f"no CRLF in the first {MAX_V1_LENGTH} bytes of a PROXY line")
        return None
    line = data[:end]
    if not line.startswith(_V1_PREFIX) or b"\r" in line or b"\n" in line:
        raise ProxyHeaderError("malformed PROXY line")
    length = end + 2
    fields = line.split(b" ")
    family = fields[1]
    if family == b"UNKNOWN":
        # "the receiver must ignore anything presented before the CRLF".
        return ProxyHeader(1, length, local=True)
    if family not in (b"TCP4", b"TCP6") or len(fields) != 6:
        raise ProxyHeaderError("malformed PROXY line")
    pattern = _IPV4 if family == b"TCP4" else _IPV6
    source = _v1_address(fields[2], pattern)
    destination = _v1_address(fields[3], pattern)
    return ProxyHeader(
        1,
        length,
        (source, _v1_port(fields[4])),
        (destination, _v1_port(fields[5])),
    )


def _v1_address(text: bytes, pattern: re.Pattern[bytes]) -> str:
    if pattern.fullmatch(text) is None:
        raise ProxyHeaderError("malformed address in PROXY line")
    try:
        # Rejects octets above 255, leading zeroes, and IPv6 that does not
        # decode to exactly 128 bits.
        address = ipaddress.ip_address(text.decode("ascii"))
    except ValueError:
        raise ProxyHeaderError("malformed address in PROXY line") from None
    return str(address)


def _v1_port(text: bytes) -> int:
    if _PORT.fullmatch(text) is None or int(text) > 0xFFFF:
        raise ProxyHeaderError("malformed port in PROXY line")
    return int(text)


# -- version 2: binary (section 2.2) -----------------------------------------------


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if not data.startswith(V2_SIGNATURE):
        if V2_SIGNATURE.startswith(data):
            return None
        raise ProxyHeaderError("not a PROXY protocol version 2 signature")
    if len(data) > 12:
        version, command = data[12] >> 4, data[12] & 0x0F
        # "it must always be sent as \x2 and the receiver must only accept this
        # value"; commands other than LOCAL (0) and PROXY (1) must be dropped.
        if version != 2:
            raise ProxyHeaderError(f"PROXY protocol version {version} is not supported")
        if command > 1:
            raise ProxyHeaderError(f"unknown PROXY protocol command {command}")
    if len(data) > 13:
        family, transport = data[13] >> 4, data[13] & 0x0F
        # Other families and transports "must be rejected as invalid by receivers".
        if family > 3 or transport > 2:
            raise ProxyHeaderError("unknown address family or transport in PROXY header")
    if len(data) < 16:
        return None
    length = 16 + int.from_bytes(data[14:16], "big")
    if len(data) < length:
        return None
    if data[12] & 0x0F == 0:
        # LOCAL: "must use the real connection endpoints and discard the
        # protocol block including the family which is ignored".
        return ProxyHeader(2, length, local=True)
    family, transport = data[13] >> 4, data[13] & 0x0F
    if family == 0 or transport == 0:
        # UNSPEC: "The receiver should ignore address information."
        return ProxyHeader(2, length, local=True)
    needed = _ADDRESS_LENGTHS[family]
    if length - 16 < needed:
        raise ProxyHeaderError("PROXY header too short for its address family")
    block = data[16:length]
    tls = _client_used_tls(block[needed:])
    if family == 0x3:
        destination = _unix_path(block[108:216])
        return ProxyHeader(2, length, None, (destination, None), unix=True, tls=tls)
    size = 4 if family == 0x1 else 16
    source: ipaddress.IPv4Address | ipaddress.IPv6Address
    target: ipaddress.IPv4Address | ipaddress.IPv6Address
    if size == 4:
        source, target = ipaddress.IPv4Address(block[:4]), ipaddress.IPv4Address(block[4:8])
    else:
        source, target = ipaddress.IPv6Address(block[:16]), ipaddress.IPv6Address(block[16:32])
    ports = block[2 * size : 2 * size + 4]
    return ProxyHeader(
        2,
        length,
        (str(source), int.from_bytes(ports[:2], "big")),
        (str(target), int.from_bytes(ports[2:], "big")),
        tls=tls,
    )


def _unix_path(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


def _client_used_tls(tlvs: bytes) -> bool:
    """Whether a PP2_TYPE_SSL TLV has its PP2_CLIENT_SSL bit set (section 2.2.6).

    Other TLVs are skipped, as section 2.2 allows; a TLV whose length runs
    past the header is malformed.
    """
    found = False
    position = 0
    while position < len(tlvs):
        if position + 3 > len(tlvs):
            raise ProxyHeaderError("truncated TLV in PROXY header")
        kind = tlvs[position]
        size = int.from_bytes(tlvs[position + 1 : position + 3], "big")
        value = tlvs[position + 3 : position + 3 + size]
        if len(value) != size:
            raise ProxyHeaderError("truncated TLV in PROXY header")
        if kind == _PP2_TYPE_SSL and size >= 5 and value[0] & _PP2_CLIENT_SSL:
            found = True
        position += 3 + size
    return found
