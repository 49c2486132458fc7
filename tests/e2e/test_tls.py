"""TLS end to end: certificates from a throwaway trustme CA, real handshakes on 127.0.0.1."""

from __future__ import annotations

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
from cryptography.hazmat.primitives import serialization

from apps.basic import app
from hurtle.config import LoopName
from support import InProcessServer, ServerProcess

TLS_1_2 = 0x0303
TLS_1_3 = 0x0304

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


@pytest.fixture
def tls(tmp_path: Path) -> TLSFiles:
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    server_cert = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.ECDSA)
    files = TLSFiles(
        ca=ca,
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
    assert scope["tls"]["client_cert_name"] is None


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
