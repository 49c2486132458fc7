"""TLS end to end: certificates from a throwaway trustme CA, real handshakes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import datetime
import http.client
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.asyncio.client import connect

from apps.basic import app, read_body, respond
from hurtle.asgi.types import Receive, Scope, Send
from hurtle.config import LoopName
from support import InProcessServer, ServerProcess

TLS_1_2 = 0x0303
TLS_1_3 = 0x0304
# The version numbers of RFC 5246 and RFC 8446 (the `legacy_version` encoding).
TLS_VERSION_IDS = {"TLSv1.2": TLS_1_2, "TLSv1.3": TLS_1_3}

# The IANA numbers (RFC 8446 appendix B.4, RFC 8422, RFC 7905) of the suites these tests see.
IANA_CIPHER_IDS = {
    "TLS_AES_128_GCM_SHA256": 0x1301,
    "TLS_AES_256_GCM_SHA384": 0x1302,
    "TLS_CHACHA20_POLY1305_SHA256": 0x1303,
    "ECDHE-ECDSA-AES128-GCM-SHA256": 0xC02B,
    "ECDHE-ECDSA-CHACHA20-POLY1305": 0xCCA9,
}

KEY_PASSWORD = "correct horse battery staple"


@dataclass
class TLSFiles:
    ca: trustme.CA
    server_cert: trustme.LeafCert
    ca_file: Path
    cert_file: Path
    key_file: Path
    encrypted_key_file: Path

    def server_args(self) -> list[str]:
        return ["--ssl-certfile", str(self.cert_file), "--ssl-keyfile", str(self.key_file)]

    def server_options(self) -> dict[str, Any]:
        return {"ssl_certfile": str(self.cert_file), "ssl_keyfile": str(self.key_file)}

    def client_context(
        self,
        client_cert: trustme.LeafCert | None = None,
        tls12_cipher: str | None = None,
    ) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if client_cert is not None:
            client_cert.configure_cert(context)
        if tls12_cipher is not None:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(tls12_cipher)
        return context

    def issue_client_cert(self) -> trustme.LeafCert:
        # A comma in the common name: client_cert_name must escape it (RFC 4514 section 2.4).
        return self.ca.issue_cert(
            "client@example.org",
            common_name="Doe, John",
            organization_name="hurtle tests",
            organization_unit_name="e2e",
            key_type=trustme.KeyType.ECDSA,
        )

    def issue_chained_client_cert(self) -> trustme.LeafCert:
        """A client certificate issued by an intermediate CA: the client sends both."""
        intermediate = self.ca.create_child_ca(key_type=trustme.KeyType.ECDSA)
        return intermediate.issue_cert(
            "client@example.org", common_name="chained client", key_type=trustme.KeyType.ECDSA
        )

    def server_cert_pem(self) -> str:
        return self.server_cert.cert_chain_pems[0].bytes().decode("ascii")


@pytest.fixture
def tls(tmp_path: Path) -> TLSFiles:
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    server_cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
    files = TLSFiles(
        ca=ca,
        server_cert=server_cert,
        ca_file=tmp_path / "ca.pem",
        cert_file=tmp_path / "server-cert.pem",
        key_file=tmp_path / "server-key.pem",
        encrypted_key_file=tmp_path / "server-key-encrypted.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca_file))
    for pem in server_cert.cert_chain_pems:
        pem.write_to_path(str(files.cert_file), append=True)
    server_cert.private_key_pem.write_to_path(str(files.key_file))
    key = serialization.load_pem_private_key(server_cert.private_key_pem.bytes(), None)
    files.encrypted_key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    return files


def get_scope(url: str, context: ssl.SSLContext) -> dict[str, Any]:
    response = httpx.get(url + "/scope", verify=context, timeout=10)
    assert response.status_code == 200
    scope: dict[str, Any] = response.json()
    return scope


def get_scope_and_cipher(port: int, context: ssl.SSLContext) -> tuple[dict[str, Any], str]:
    """The app's view of the scope, and the cipher suite the client negotiated."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request("GET", "/scope")
        response = connection.getresponse()
        assert response.status == 200
        scope: dict[str, Any] = json.loads(response.read())
        assert isinstance(connection.sock, ssl.SSLSocket)
        cipher = connection.sock.cipher()
        assert cipher is not None
        return scope, cipher[0]
    finally:
        connection.close()


def subject_rfc4514(cert: trustme.LeafCert) -> str:
    return x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).subject.rfc4514_string()


def single_error_line(process: ServerProcess) -> str:
    """The one line a failed start printed (no traceback, no log noise)."""
    lines = [line for line in process.lines if line.strip()]
    assert len(lines) == 1, process.output
    assert lines[0].startswith("hurtle: error: "), process.output
    return lines[0]


# --------------------------------------------------------------------------
# Serving https


def test_serves_https_with_tls_scope(
    hurtle_process: Callable[..., ServerProcess], tls: TLSFiles, loop_name: LoopName
) -> None:
    server = hurtle_process("apps.basic:app", "--loop", loop_name, *tls.server_args())
    assert server.url.startswith("https://127.0.0.1:")
    scope = get_scope(server.url, tls.client_context())
    assert scope["scheme"] == "https"
    assert "tls" in scope["extensions"]
    assert scope["tls"]["tls_version"] in (TLS_1_2, TLS_1_3)
    assert isinstance(scope["tls"]["cipher_suite"], int)
    assert scope["tls"]["server_cert"] == tls.server_cert_pem()
    assert scope["tls"]["client_cert_chain"] == []
    assert scope["tls"]["client_cert_name"] is None
    assert scope["tls"]["client_cert_error"] is None


@pytest.mark.parametrize(
    ("tls12_cipher", "version"),
    [(None, TLS_1_3), ("ECDHE-ECDSA-AES128-GCM-SHA256", TLS_1_2)],
    ids=["tls1.3", "tls1.2"],
)
def test_tls_extension_in_process(
    serve_app: Callable[..., InProcessServer],
    tls: TLSFiles,
    tls12_cipher: str | None,
    version: int,
) -> None:
    server = serve_app(app, **tls.server_options())
    assert server.url.startswith("https://")
    scope, negotiated = get_scope_and_cipher(server.port, tls.client_context(None, tls12_cipher))
    assert scope["scheme"] == "https"
    assert scope["tls"]["tls_version"] == version
    assert scope["tls"]["cipher_suite"] == IANA_CIPHER_IDS[negotiated]


def test_server_closes_with_a_closure_alert(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles
) -> None:
    """RFC 9112 section 9.8: servers MUST attempt to initiate an exchange of closure alerts
    (close_notify) with the client before closing the connection; without one the client
    cannot tell the end of the data from a truncation attack. With ragged EOFs not
    suppressed, the client's read raises SSLEOFError on a close without the alert."""
    server = serve_app(app, **tls.server_options())
    context = tls.client_context()
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = b""
        for _ in range(1000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"Hello, world!")


def test_cipher_suite_ids_across_servers_with_different_cipher_lists(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles
) -> None:
    # Two servers in one process, the first limited by ssl_ciphers: the second
    # must still report the IANA number of a suite only it allows.
    limited = serve_app(app, ssl_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", **tls.server_options())
    scope, negotiated = get_scope_and_cipher(
        limited.port, tls.client_context(None, "ECDHE-ECDSA-AES128-GCM-SHA256")
    )
    assert scope["tls"]["cipher_suite"] == IANA_CIPHER_IDS[negotiated] == 0xC02B
    full = serve_app(app, **tls.server_options())
    scope, negotiated = get_scope_and_cipher(
        full.port, tls.client_context(None, "ECDHE-ECDSA-CHACHA20-POLY1305")
    )
    assert scope["tls"]["cipher_suite"] == IANA_CIPHER_IDS[negotiated] == 0xCCA9


def test_ssl_ciphers_limits_tls12_suites(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles
) -> None:
    server = serve_app(app, ssl_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256", **tls.server_options())
    context = tls.client_context(None, "ECDHE-ECDSA-CHACHA20-POLY1305")
    with pytest.raises(ssl.SSLError):
        get_scope_and_cipher(server.port, context)
    # The server goes on serving clients that can agree with it.
    scope, _ = get_scope_and_cipher(server.port, tls.client_context())
    assert scope["scheme"] == "https"


# --------------------------------------------------------------------------
# Every field of the tls extension (asgiref specs/tls.rst)


async def tls_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the scope's `tls` extension as JSON: over HTTP, or as a WebSocket message."""
    tls = scope.get("extensions", {}).get("tls")
    if scope["type"] == "http":
        await read_body(receive)
        await respond(send, 200, json.dumps(tls).encode(), [(b"content-type", b"application/json")])
    elif scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(tls)})
        await send({"type": "websocket.close"})


@dataclass
class Session:
    tls: dict[str, Any]  # What the app saw.
    version: int  # What the client negotiated, as the spec numbers it.
    cipher_suite: int


def get_tls(port: int, context: ssl.SSLContext) -> Session:
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200
        tls: dict[str, Any] = json.loads(response.read())
        assert isinstance(connection.sock, ssl.SSLSocket)
        cipher = connection.sock.cipher()
        assert cipher is not None
        version = TLS_VERSION_IDS[connection.sock.version() or ""]
        return Session(tls, version, IANA_CIPHER_IDS[cipher[0]])
    finally:
        connection.close()


def get_tls_over_websocket(port: int, context: ssl.SSLContext) -> dict[str, Any]:
    async def client() -> dict[str, Any]:
        async with connect(f"wss://127.0.0.1:{port}/", ssl=context) as ws:
            tls: dict[str, Any] = json.loads(await ws.recv())
            return tls

    result: dict[str, Any] = asyncio.run(asyncio.wait_for(client(), 10))
    return result


def pems(cert: trustme.LeafCert) -> list[str]:
    return [pem.bytes().decode("ascii") for pem in cert.cert_chain_pems]


@pytest.mark.parametrize(
    ("tls12_cipher", "version"),
    [(None, TLS_1_3), ("ECDHE-ECDSA-AES128-GCM-SHA256", TLS_1_2)],
    ids=["tls1.3", "tls1.2"],
)
def test_every_tls_field_with_a_client_cert_chain(
    serve_app: Callable[..., InProcessServer],
    tls: TLSFiles,
    tls12_cipher: str | None,
    version: int,
) -> None:
    server = serve_app(
        tls_app, ssl_cert_reqs=2, ssl_ca_certs=str(tls.ca_file), **tls.server_options()
    )
    client_cert = tls.issue_chained_client_cert()
    session = get_tls(server.port, tls.client_context(client_cert, tls12_cipher))
    assert set(session.tls) == {
        "server_cert",
        "client_cert_chain",
        "client_cert_name",
        "client_cert_error",
        "tls_version",
        "cipher_suite",
    }
    # The leaf of --ssl-certfile (which holds its chain too), as PEM.
    assert session.tls["server_cert"] == tls.server_cert_pem()
    # As the client sent it: its own certificate, then the intermediate CA
    # that signed it; not the root, which only the server had.
    assert session.tls["client_cert_chain"] == pems(client_cert)
    assert len(session.tls["client_cert_chain"]) == 2
    assert session.tls["client_cert_name"] == subject_rfc4514(client_cert)
    assert session.tls["client_cert_error"] is None
    assert session.tls["tls_version"] == session.version == version
    assert session.tls["cipher_suite"] == session.cipher_suite
    if tls12_cipher is not None:
        assert session.cipher_suite == IANA_CIPHER_IDS[tls12_cipher]


def test_tls_fields_without_a_client_cert(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles
) -> None:
    # --ssl-cert-reqs 1: a certificate is asked for, and this client has none.
    server = serve_app(
        tls_app, ssl_cert_reqs=1, ssl_ca_certs=str(tls.ca_file), **tls.server_options()
    )
    session = get_tls(server.port, tls.client_context())
    assert session.tls["server_cert"] == tls.server_cert_pem()
    assert session.tls["client_cert_chain"] == []
    assert session.tls["client_cert_name"] is None
    assert session.tls["client_cert_error"] is None
    assert session.tls["tls_version"] == session.version
    assert session.tls["cipher_suite"] == session.cipher_suite


def test_websocket_scope_has_the_same_tls_extension(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles
) -> None:
    server = serve_app(
        tls_app, ssl_cert_reqs=2, ssl_ca_certs=str(tls.ca_file), **tls.server_options()
    )
    client_cert = tls.issue_chained_client_cert()
    context = tls.client_context(client_cert)
    over_websocket = get_tls_over_websocket(server.port, context)
    session = get_tls(server.port, context)
    assert over_websocket == session.tls
    assert over_websocket["client_cert_chain"] == pems(client_cert)
    assert over_websocket["server_cert"] == tls.server_cert_pem()


def issue_cert_with_subject(ca: trustme.CA, subject: x509.Name) -> tuple[bytes, bytes]:
    """A client certificate for `subject`, signed by `ca`: its PEM and its key's PEM."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_client_cert_name_is_rfc4514(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles, tmp_path: Path
) -> None:
    def rdn(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.RelativeDistinguishedName:
        return x509.RelativeDistinguishedName([x509.NameAttribute(o, v) for o, v in attributes])

    # In DER order, least specific first; RFC 4514 section 2.1 writes them reversed.
    subject = x509.Name(
        [
            rdn((NameOID.DOMAIN_COMPONENT, "org")),
            rdn((NameOID.DOMAIN_COMPONENT, "example")),
            rdn((NameOID.LOCALITY_NAME, "Zürich")),
            # Every character section 2.4 escapes anywhere, and a leading '#'.
            rdn((NameOID.ORGANIZATION_NAME, '#1 "quoted" <corp>; a+b\\c, =')),
            # A multi-valued RDN (section 2.2), with spaces at both ends.
            rdn((NameOID.COMMON_NAME, " Doe, John "), (NameOID.USER_ID, "jdoe")),
            # Outside the table of section 3: written as its dotted OID.
            rdn((NameOID.EMAIL_ADDRESS, "jdoe@example.org")),
        ]
    )
    cert_pem, key_pem = issue_cert_with_subject(tls.ca, subject)
    cert_file, key_file = tmp_path / "client-cert.pem", tmp_path / "client-key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    context = tls.client_context()
    context.load_cert_chain(str(cert_file), str(key_file))
    server = serve_app(
        tls_app, ssl_cert_reqs=2, ssl_ca_certs=str(tls.ca_file), **tls.server_options()
    )
    session = get_tls(server.port, context)
    # (OpenSSL completes a lone certificate's chain from the client's trust
    # store, so the CA follows it here.)
    assert session.tls["client_cert_chain"][0] == cert_pem.decode("ascii")
    name = session.tls["client_cert_name"]
    assert name == x509.load_pem_x509_certificate(cert_pem).subject.rfc4514_string()
    assert name == (
        "1.2.840.113549.1.9.1=jdoe@example.org,"
        "CN=\\ Doe\\, John\\ +UID=jdoe,"
        'O=\\#1 \\"quoted\\" \\<corp\\>\\; a\\+b\\\\c\\, =,'
        "L=Zürich,DC=example,DC=org"
    )


def trusted_certificate_pem(cert_pem: bytes) -> bytes:
    """`cert_pem` as OpenSSL's TRUSTED CERTIFICATE: its DER, then trust settings
    (an X509_CERT_AUX that trusts it for serverAuth, OID 1.3.6.1.5.5.7.3.1)."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem.decode("ascii"))
    aux = bytes.fromhex("300c300a06082b06010505070301")
    body = base64.encodebytes(der + aux).decode("ascii")
    return (
        f"-----BEGIN TRUSTED CERTIFICATE-----\n{body}-----END TRUSTED CERTIFICATE-----\n".encode()
    )


@pytest.mark.parametrize("layout", ["key-first", "trusted-certificate"])
def test_server_cert_is_the_leaf_of_any_certfile_layout(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles, tmp_path: Path, layout: str
) -> None:
    # One file with the key before the certificates (no --ssl-keyfile), or the
    # leaf in the TRUSTED CERTIFICATE form that OpenSSL also loads.
    chain = [pem.bytes() for pem in tls.server_cert.cert_chain_pems]
    if layout == "trusted-certificate":
        chain[0] = trusted_certificate_pem(chain[0])
    combined = tmp_path / "combined.pem"
    combined.write_bytes(tls.server_cert.private_key_pem.bytes() + b"".join(chain))
    server = serve_app(tls_app, ssl_certfile=str(combined))
    session = get_tls(server.port, tls.client_context())
    assert session.tls["server_cert"] == tls.server_cert_pem()


# --------------------------------------------------------------------------
# Encrypted private keys


def test_encrypted_key_with_password(
    hurtle_process: Callable[..., ServerProcess], tls: TLSFiles
) -> None:
    server = hurtle_process(
        "apps.basic:app",
        "--ssl-certfile",
        str(tls.cert_file),
        "--ssl-keyfile",
        str(tls.encrypted_key_file),
        "--ssl-keyfile-password",
        KEY_PASSWORD,
    )
    assert get_scope(server.url, tls.client_context())["scheme"] == "https"


def test_encrypted_key_with_password_in_process(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles
) -> None:
    server = serve_app(
        app,
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.encrypted_key_file),
        ssl_keyfile_password=KEY_PASSWORD,
    )
    assert get_scope(server.url, tls.client_context())["scheme"] == "https"


@pytest.mark.parametrize(
    ("password_args", "expected"),
    [
        (["--ssl-keyfile-password", "wrong password"], "cannot load the TLS certificate or key"),
        # Never an interactive pass phrase prompt: a server has no one at the keyboard.
        ([], "give its password with --ssl-keyfile-password"),
    ],
    ids=["wrong-password", "no-password"],
)
def test_encrypted_key_without_the_right_password_exits_1(
    hurtle_process: Callable[..., ServerProcess],
    tls: TLSFiles,
    password_args: list[str],
    expected: str,
) -> None:
    server = hurtle_process(
        "apps.basic:app",
        "--ssl-certfile",
        str(tls.cert_file),
        "--ssl-keyfile",
        str(tls.encrypted_key_file),
        *password_args,
        wait=False,
    )
    assert server.wait_exit() == 1
    assert expected in single_error_line(server)


# --------------------------------------------------------------------------
# Client certificates


def test_required_client_cert(
    hurtle_process: Callable[..., ServerProcess], tls: TLSFiles, loop_name: LoopName
) -> None:
    server = hurtle_process(
        "apps.basic:app",
        "--loop",
        loop_name,
        *tls.server_args(),
        "--ssl-cert-reqs",
        "2",
        "--ssl-ca-certs",
        str(tls.ca_file),
    )
    with pytest.raises(httpx.TransportError):
        get_scope(server.url, tls.client_context())
    # A certificate from another CA is refused as well.
    stranger = trustme.CA().issue_cert("stranger@example.org", common_name="stranger")
    with pytest.raises(httpx.TransportError):
        get_scope(server.url, tls.client_context(stranger))
    client_cert = tls.issue_client_cert()
    scope = get_scope(server.url, tls.client_context(client_cert))
    assert scope["tls"]["client_cert_name"] == subject_rfc4514(client_cert)
    assert scope["tls"]["client_cert_name"] == r"CN=Doe\, John,OU=e2e,O=hurtle tests"


@pytest.mark.parametrize("cert_reqs", [1, 2], ids=["optional", "required"])
def test_client_cert_in_process(
    serve_app: Callable[..., InProcessServer], tls: TLSFiles, cert_reqs: int
) -> None:
    server = serve_app(
        app, ssl_cert_reqs=cert_reqs, ssl_ca_certs=str(tls.ca_file), **tls.server_options()
    )
    if cert_reqs == 1:
        scope = get_scope(server.url, tls.client_context())
        assert scope["tls"]["client_cert_name"] is None
    else:
        with pytest.raises(httpx.TransportError):
            get_scope(server.url, tls.client_context())
    client_cert = tls.issue_client_cert()
    scope = get_scope(server.url, tls.client_context(client_cert))
    assert scope["tls"]["client_cert_name"] == subject_rfc4514(client_cert)


# --------------------------------------------------------------------------
# Configuration errors: exit code 1 and one line that says what is wrong


def test_invalid_cipher_list_exits_1(
    hurtle_process: Callable[..., ServerProcess], tls: TLSFiles
) -> None:
    server = hurtle_process(
        "apps.basic:app", *tls.server_args(), "--ssl-ciphers", "NO-SUCH-CIPHER", wait=False
    )
    assert server.wait_exit() == 1
    line = single_error_line(server)
    assert "--ssl-ciphers" in line
    assert "NO-SUCH-CIPHER" in line


@pytest.mark.parametrize("flag", ["--ssl-certfile", "--ssl-keyfile", "--ssl-ca-certs"])
def test_missing_file_exits_1(
    hurtle_process: Callable[..., ServerProcess], tls: TLSFiles, tmp_path: Path, flag: str
) -> None:
    missing = str(tmp_path / "missing.pem")
    paths = {
        "--ssl-certfile": str(tls.cert_file),
        "--ssl-keyfile": str(tls.key_file),
        "--ssl-ca-certs": str(tls.ca_file),
    }
    paths[flag] = missing
    args = [item for pair in paths.items() for item in pair]
    server = hurtle_process("apps.basic:app", *args, "--ssl-cert-reqs", "1", wait=False)
    assert server.wait_exit() == 1
    line = single_error_line(server)
    assert flag in line
    assert missing in line
