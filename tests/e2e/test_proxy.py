"""Proxies end to end: proxy headers and the PROXY protocol, on a real hurtle.

Every defence of docs/security.md "Proxies" is checked over real sockets. A
trusted proxy is a client on 127.0.0.1; an untrusted peer is a client bound
to another loopback address (127.0.0.2, 127.0.0.5), which Linux routes to
the same host. PROXY protocol rules are from HAProxy's doc/proxy-protocol.txt,
the Forwarded header from RFC 7239.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from apps.proxy_apps import scope_app
from hurtle.wire.proxy_protocol import V2_SIGNATURE
from support import InProcessServer, ServerProcess, parse_responses

Serve = Callable[..., InProcessServer]
Start = Callable[..., ServerProcess]

TRUSTED = "127.0.0.1"
UNTRUSTED = "127.0.0.2"
REQUEST = b"GET /scope HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n"


def http_scope(
    server: InProcessServer, headers: dict[str, str] | None = None, source: str = TRUSTED
) -> dict[str, Any]:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        response = client.get(server.url + "/scope", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def ws_scope(
    server: InProcessServer, headers: dict[str, str] | None = None, source: str = TRUSTED
) -> dict[str, Any]:
    async def talk() -> str:
        url = server.url.replace("http://", "ws://") + "/ws"
        async with connect(url, additional_headers=headers, local_addr=(source, 0)) as ws:
            text = await ws.recv()
            assert isinstance(text, str)
            return text

    result: dict[str, Any] = json.loads(asyncio.run(asyncio.wait_for(talk(), 15)))
    return result


def exchange(
    port: int, data: bytes | list[bytes], source: str = TRUSTED, timeout: float = 10.0
) -> bytes:
    """Send `data` (pieces with a pause between them), read until the server closes."""
    pieces = data if isinstance(data, list) else [data]
    chunks: list[bytes] = []
    with socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    ) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for piece in pieces:
                sock.sendall(piece)
                if len(pieces) > 1:
                    time.sleep(0.01)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            pass  # A close with unread input can arrive as a reset.
    return b"".join(chunks)


def scope_from(raw: bytes, count: int = 1) -> list[dict[str, Any]]:
    responses, _ = parse_responses(raw, ["GET"] * count)
    assert len(responses) == count, raw
    assert all(r.status == 200 for r in responses), responses
    return [json.loads(r.body) for r in responses]


def v2_header(
    src: str, dst: str, sport: int, dport: int, command: int = 0x21, tlvs: bytes = b""
) -> bytes:
    six = ":" in src
    family = 0x21 if six else 0x11
    pack = socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, src)
    block = (
        pack
        + socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, dst)
        + struct.pack("!HH", sport, dport)
        + tlvs
    )
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(block)) + block


# -- proxy headers: who is trusted ---------------------------------------------------

XFF = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def test_headers_from_a_trusted_peer_are_honoured(serve_app: Serve) -> None:
    server = serve_app(scope_app)
    scope = http_scope(server, XFF)
    assert scope["client"] == ["203.0.113.9", 0]
    assert scope["scheme"] == "https"
    assert scope["server"][0] == "127.0.0.1"


def test_headers_from_an_untrusted_peer_are_ignored(serve_app: Serve) -> None:
    server = serve_app(scope_app, forwarded_allow_ips=["127.0.0.1"])
    scope = http_scope(server, XFF, source=UNTRUSTED)
    assert scope["client"][0] == UNTRUSTED
    assert scope["scheme"] == "http"


def test_no_proxy_headers_ignores_even_a_trusted_peer(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_headers=False)
    scope = http_scope(server, XFF)
    assert scope["client"][0] == TRUSTED
    assert scope["scheme"] == "http"


def test_cidr_allow_list(serve_app: Serve) -> None:
    server = serve_app(scope_app, forwarded_allow_ips=["127.0.0.0/30"])
    assert http_scope(server, XFF, source="127.0.0.2")["client"] == ["203.0.113.9", 0]
    assert http_scope(server, XFF, source="127.0.0.5")["client"][0] == "127.0.0.5"


def test_star_trusts_every_peer(serve_app: Serve) -> None:
    server = serve_app(scope_app, forwarded_allow_ips=["*"])
    assert http_scope(server, XFF, source="127.0.0.3")["client"] == ["203.0.113.9", 0]


# -- X-Forwarded-* ---------------------------------------------------------------------


def test_x_forwarded_for_chain_rightmost_untrusted_is_the_client(serve_app: Serve) -> None:
    """client -> proxy 10.1.1.1 -> proxy 10.2.2.2 -> nginx on 127.0.0.1 -> hurtle.

    198.51.100.1 is what the client itself wrote; only the hops that trusted
    proxies appended count.
    """
    server = serve_app(scope_app, forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"])
    chain = "198.51.100.1, 203.0.113.5, 10.1.1.1, 10.2.2.2"
    scope = http_scope(server, {"X-Forwarded-For": chain})
    assert scope["client"] == ["203.0.113.5", 0]


def test_x_forwarded_for_every_hop_trusted_gives_the_leftmost(serve_app: Serve) -> None:
    server = serve_app(scope_app, forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"])
    scope = http_scope(server, {"X-Forwarded-For": "10.9.9.9, 10.1.1.1"})
    assert scope["client"] == ["10.9.9.9", 0]


def test_x_forwarded_for_several_lines(serve_app: Serve) -> None:
    server = serve_app(scope_app)
    raw = exchange(
        server.port,
        b"GET /scope HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1\r\n"
        b"X-Forwarded-For: 203.0.113.5\r\nConnection: close\r\n\r\n",
    )
    assert scope_from(raw)[0]["client"] == ["203.0.113.5", 0]


def test_x_forwarded_proto_ws_becomes_wss_on_a_websocket(serve_app: Serve) -> None:
    server = serve_app(scope_app)
    scope = ws_scope(server, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "wss"
    assert scope["client"] == ["203.0.113.9", 0]
    assert ws_scope(server, {"X-Forwarded-Proto": "wss"})["scheme"] == "wss"
    assert ws_scope(server, {"X-Forwarded-Proto": "http"})["scheme"] == "ws"


def test_x_forwarded_proto_on_a_websocket_from_an_untrusted_peer(serve_app: Serve) -> None:
    server = serve_app(scope_app)
    scope = ws_scope(server, {"X-Forwarded-Proto": "https"}, source=UNTRUSTED)
    assert scope["scheme"] == "ws"
    assert scope["client"][0] == UNTRUSTED


def test_x_forwarded_proto_wss_on_http_is_https(serve_app: Serve) -> None:
    server = serve_app(scope_app)
    assert http_scope(server, {"X-Forwarded-Proto": "wss"})["scheme"] == "https"


def test_x_forwarded_host_only_with_forwarded_host(serve_app: Serve) -> None:
    headers = {"X-Forwarded-Host": "public.example:8443"}
    plain = serve_app(scope_app)
    assert http_scope(plain, headers)["host"] == [f"127.0.0.1:{plain.port}"]
    server = serve_app(scope_app, forwarded_host=True)
    assert http_scope(server, headers)["host"] == ["public.example:8443"]
    assert http_scope(server, headers, source=UNTRUSTED)["host"] == [f"127.0.0.1:{server.port}"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "not-an-address"},
        {"X-Forwarded-For": "203.0.113.9:99999"},
        {"X-Forwarded-For": ", ,"},
        {"X-Forwarded-Proto": "javascript"},
        {"X-Forwarded-Proto": "https ftp"},
        {"X-Forwarded-Host": "evil.example/path?x"},
        {"X-Forwarded-Host": "evil.example, bad host"},
        {"Forwarded": 'for="broken'},
    ],
)
def test_malformed_values_are_ignored(serve_app: Serve, headers: dict[str, str]) -> None:
    server = serve_app(scope_app, forwarded_host=True)
    scope = http_scope(server, headers)
    assert scope["client"][0] == TRUSTED
    assert scope["scheme"] == "http"
    assert scope["host"] == [f"127.0.0.1:{server.port}"]


# -- Forwarded (RFC 7239) --------------------------------------------------------------

RFC7239 = {"Forwarded": 'for=198.51.100.1, for="[2001:db8::7]:4711";proto=https;host=example.com'}


def test_forwarded_header(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_headers_style="forwarded", forwarded_host=True)
    scope = http_scope(server, RFC7239)
    assert scope["client"] == ["2001:db8::7", 4711]
    assert scope["scheme"] == "https"
    assert scope["host"] == ["example.com"]


def test_forwarded_header_walks_trusted_hops(serve_app: Serve) -> None:
    server = serve_app(
        scope_app, proxy_headers_style="forwarded", forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"]
    )
    value = "for=198.51.100.1;proto=http, for=203.0.113.5;proto=https, for=10.0.0.3;proto=http"
    scope = http_scope(server, {"Forwarded": value})
    assert scope["client"] == ["203.0.113.5", 0]
    assert scope["scheme"] == "https"


def test_forwarded_unknown_client(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_headers_style="forwarded")
    scope = http_scope(server, {"Forwarded": "for=unknown;proto=https"})
    assert scope["client"] is None
    assert scope["scheme"] == "https"


def test_forwarded_on_a_websocket(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_headers_style="forwarded")
    scope = ws_scope(server, {"Forwarded": 'for="[2001:db8::7]:4711";proto=https'})
    assert scope["scheme"] == "wss"
    assert scope["client"] == ["2001:db8::7", 4711]


def test_each_style_reads_only_its_own_headers(serve_app: Serve) -> None:
    """A proxy that sets one kind passes the other on from the client: never read both."""
    x_style = serve_app(scope_app, forwarded_host=True)
    scope = http_scope(x_style, RFC7239)
    assert scope["client"][0] == TRUSTED and scope["scheme"] == "http"
    rfc_style = serve_app(scope_app, proxy_headers_style="forwarded")
    scope = http_scope(rfc_style, XFF)
    assert scope["client"][0] == TRUSTED and scope["scheme"] == "http"


def test_forwarded_from_an_untrusted_peer_is_ignored(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_headers_style="forwarded")
    scope = http_scope(server, RFC7239, source=UNTRUSTED)
    assert scope["client"][0] == UNTRUSTED and scope["scheme"] == "http"


# -- the PROXY protocol ----------------------------------------------------------------

V1 = b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\n"


def test_proxy_v1(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_protocol=True)
    scope = scope_from(exchange(server.port, V1 + REQUEST))[0]
    assert scope["client"] == ["203.0.113.7", 4242]
    assert scope["server"] == ["198.51.100.1", 443]
    assert scope["scheme"] == "http"


def test_proxy_v1_tcp6_keeps_its_addresses_for_every_request(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_protocol=True)
    header = b"PROXY TCP6 2001:db8::7 2001:db8::1 4242 8080\r\n"
    first = b"GET /scope HTTP/1.1\r\nHost: a\r\n\r\n"
    scopes = scope_from(exchange(server.port, header + first + REQUEST), count=2)
    for scope in scopes:
        assert scope["client"] == ["2001:db8::7", 4242]
        assert scope["server"] == ["2001:db8::1", 8080]


def test_proxy_v1_unknown_uses_the_real_addresses(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_protocol=True)
    scope = scope_from(exchange(server.port, b"PROXY UNKNOWN\r\n" + REQUEST))[0]
    assert scope["client"][0] == TRUSTED
    assert scope["server"] == ["127.0.0.1", server.port]


def test_proxy_v2(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_protocol=True)
    noop = b"\x04\x00\x03abc"
    header = v2_header("203.0.113.7", "198.51.100.1", 4242, 443, tlvs=noop)
    scope = scope_from(exchange(server.port, header + REQUEST))[0]
    assert scope["client"] == ["203.0.113.7", 4242]
    assert scope["server"] == ["198.51.100.1", 443]


def test_proxy_v2_ipv6(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_protocol=True)
    header = v2_header("2001:db8::7", "2001:db8::1", 1, 2)
    assert scope_from(exchange(server.port, header + REQUEST))[0]["client"] == ["2001:db8::7", 1]


def test_proxy_v2_local_uses_the_real_addresses(serve_app: Serve) -> None:
    """A health check by the proxy itself (LOCAL command)."""
    server = serve_app(scope_app, proxy_protocol=True)
    header = v2_header("203.0.113.7", "198.51.100.1", 1, 2, command=0x20)
    scope = scope_from(exchange(server.port, header + REQUEST))[0]
    assert scope["client"][0] == TRUSTED


def test_proxy_v2_ssl_tlv_makes_the_scheme_https(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_protocol=True)
    ssl_tlv = b"\x20" + struct.pack("!H", 5) + b"\x01\x00\x00\x00\x00"
    header = v2_header("203.0.113.7", "198.51.100.1", 1, 443, tlvs=ssl_tlv)
    assert scope_from(exchange(server.port, header + REQUEST))[0]["scheme"] == "https"


def test_proxy_header_in_pieces(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_protocol=True)
    data = V1 + REQUEST
    pieces = [data[i : i + 1] for i in range(len(V1) + 3)] + [data[len(V1) + 3 :]]
    assert scope_from(exchange(server.port, pieces))[0]["client"] == ["203.0.113.7", 4242]
    header = v2_header("203.0.113.8", "198.51.100.1", 7, 8)
    pieces = [header[:5], header[5:14], header[14:20], header[20:] + REQUEST]
    assert scope_from(exchange(server.port, pieces))[0]["client"] == ["203.0.113.8", 7]


def test_proxy_from_an_untrusted_peer_is_closed(serve_app: Serve) -> None:
    server = serve_app(scope_app, proxy_protocol=True, forwarded_allow_ips=["127.0.0.1"])
    assert exchange(server.port, V1 + REQUEST, source=UNTRUSTED) == b""
    # The same bytes from the trusted proxy are served.
    assert scope_from(exchange(server.port, V1 + REQUEST))[0]["client"][0] == "203.0.113.7"


@pytest.mark.parametrize(
    "data",
    [
        REQUEST,  # no PROXY header at all: never guessed (spec section 2)
        b"PROXY TCP4 203.0.113.7 198.51.100.1 04242 443\r\n" + REQUEST,
        b"PROXY TCP4 2001:db8::7 198.51.100.1 4242 443\r\n" + REQUEST,
        b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\n" + REQUEST,
        b"PROXY UNKNOWN " + b"f" * 100 + b"\r\n" + REQUEST,  # no CRLF in 107 bytes
        V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\x00" * 12 + REQUEST,  # version 1 in v2
        V2_SIGNATURE + b"\x21\x11\x00\x04" + b"\x00" * 4 + REQUEST,  # too short
        V2_SIGNATURE + b"\x23\x11\x00\x0c" + b"\x00" * 12 + REQUEST,  # command 3
    ],
    ids=["none", "zero-port", "family", "lf", "long", "v2-version", "v2-short", "v2-command"],
)
def test_malformed_proxy_header_closes_the_connection(serve_app: Serve, data: bytes) -> None:
    server = serve_app(scope_app, proxy_protocol=True)
    assert exchange(server.port, data) == b""


def test_proxy_header_source_is_the_peer_for_proxy_headers(serve_app: Serve) -> None:
    server = serve_app(
        scope_app, proxy_protocol=True, forwarded_allow_ips=["127.0.0.1", "10.0.0.0/8"]
    )
    xff = b"GET /scope HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.9\r\n"
    xff += b"X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
    # A client on a trusted address (an internal proxy): its headers count.
    trusted = b"PROXY TCP4 10.0.0.7 10.0.0.1 1000 80\r\n"
    scope = scope_from(exchange(server.port, trusted + xff))[0]
    assert scope["client"] == ["198.51.100.9", 0]
    assert scope["scheme"] == "https"
    # A client from the internet: its headers are its own words.
    untrusted = b"PROXY TCP4 203.0.113.7 10.0.0.1 1000 80\r\n"
    scope = scope_from(exchange(server.port, untrusted + xff))[0]
    assert scope["client"] == ["203.0.113.7", 1000]
    assert scope["scheme"] == "http"


def test_an_incomplete_proxy_header_times_out() -> None:
    """The spec, section 2: at least 3 seconds, to cover a TCP retransmit."""
    server = InProcessServer(scope_app, "asyncio", proxy_protocol=True, timeout_keep_alive=0.5)
    try:
        started = time.monotonic()
        assert exchange(server.port, b"PROXY TCP4 203.0.113.7", timeout=15) == b""
        elapsed = time.monotonic() - started
        assert 2.5 < elapsed < 10
    finally:
        server.stop()


def test_shutdown_closes_a_connection_waiting_for_its_proxy_header() -> None:
    server = InProcessServer(scope_app, "uvloop", proxy_protocol=True)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PROXY TCP4 ")
        time.sleep(0.1)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        assert sock.recv(100) == b""


# -- Unix sockets --------------------------------------------------------------------


def unix_exchange(path: Path, data: bytes) -> bytes:
    chunks: list[bytes] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        try:
            sock.sendall(data)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            pass
    return b"".join(chunks)


UNIX_XFF = (
    b"GET /scope HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\n"
    b"X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_unix_socket_peers_are_trusted_only_with_unix(
    hurtle_process: Start, tmp_path: Path, loop: str
) -> None:
    default = tmp_path / "default.sock"
    hurtle_process("apps.proxy_apps:scope_app", "--uds", str(default), "--loop", loop)
    scope = scope_from(unix_exchange(default, UNIX_XFF))[0]
    assert scope["client"] is None and scope["scheme"] == "http"

    trusting = tmp_path / "unix.sock"
    hurtle_process(
        "apps.proxy_apps:scope_app",
        "--uds",
        str(trusting),
        "--loop",
        loop,
        "--forwarded-allow-ips",
        "unix",
    )
    scope = scope_from(unix_exchange(trusting, UNIX_XFF))[0]
    assert scope["client"] == ["203.0.113.9", 0] and scope["scheme"] == "https"


def test_proxy_protocol_on_a_unix_socket(hurtle_process: Start, tmp_path: Path) -> None:
    trusting = tmp_path / "unix.sock"
    hurtle_process(
        "apps.proxy_apps:scope_app",
        "--uds",
        str(trusting),
        "--proxy-protocol",
        "--forwarded-allow-ips",
        "unix",
    )
    scope = scope_from(unix_exchange(trusting, V1 + REQUEST))[0]
    assert scope["client"] == ["203.0.113.7", 4242]

    default = tmp_path / "default.sock"
    hurtle_process("apps.proxy_apps:scope_app", "--uds", str(default), "--proxy-protocol")
    assert unix_exchange(default, V1 + REQUEST) == b""


# -- options -------------------------------------------------------------------------


def test_forwarded_allow_ips_environment_variables(hurtle_process: Start) -> None:
    """uvicorn's FORWARDED_ALLOW_IPS is read, below HURTLE_FORWARDED_ALLOW_IPS."""
    fallback = hurtle_process("apps.proxy_apps:scope_app", env={"FORWARDED_ALLOW_IPS": "127.0.0.2"})
    url = fallback.url + "/scope"
    for source, client in ((UNTRUSTED, "203.0.113.9"), (TRUSTED, TRUSTED)):
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as http:
            assert http.get(url, headers=XFF, timeout=10).json()["client"][0] == client
    ours = hurtle_process(
        "apps.proxy_apps:scope_app",
        env={"FORWARDED_ALLOW_IPS": "127.0.0.2", "HURTLE_FORWARDED_ALLOW_IPS": "127.0.0.1"},
    )
    with httpx.Client(transport=httpx.HTTPTransport(local_address=UNTRUSTED)) as http:
        response = http.get(ours.url + "/scope", headers=XFF, timeout=10)
        assert response.json()["client"][0] == UNTRUSTED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--forwarded-allow-ips", "127.0.0.1,localhost"], "--forwarded-allow-ips: 'localhost'"),
        (["--forwarded-allow-ips", "10.0.0.1/8"], "did you mean 10.0.0.0/8"),
        (
            ["--proxy-protocol", "--ssl-certfile", "cert.pem", "--ssl-keyfile", "key.pem"],
            "--proxy-protocol: cannot be combined with TLS",
        ),
        (["--proxy-headers-style", "both"], "--proxy-headers-style"),
    ],
)
def test_bad_options_stop_hurtle_before_it_serves(
    hurtle_process: Start, args: list[str], message: str
) -> None:
    process = hurtle_process("apps.basic:app", *args, wait=False)
    assert process.wait_exit() == 2
    assert message in process.output
