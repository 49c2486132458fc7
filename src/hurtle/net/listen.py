"""Listening sockets and TLS contexts: TCP, Unix sockets, inherited fds."""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import socket
import ssl
import stat
import weakref
from typing import Any

from hurtle.config import Config

__all__ = [
    "BindError",
    "bind_sockets",
    "create_ssl_context",
    "describe_socket",
    "systemd_sockets",
    "tls_extension",
]

# sd_listen_fds(3): systemd passes activated sockets from this descriptor on.
SD_LISTEN_FDS_START = 3


class BindError(OSError):
    """A listening socket could not be set up; the message is for the user."""


def create_ssl_context(config: Config) -> ssl.SSLContext | None:
    if config.ssl_certfile is None:
        if config.ssl_keyfile is not None:
            raise BindError("--ssl-keyfile needs --ssl-certfile")
        return None
    # OpenSSL's errors for a missing file do not say which file.
    for flag, path in (
        ("--ssl-certfile", config.ssl_certfile),
        ("--ssl-keyfile", config.ssl_keyfile),
        ("--ssl-ca-certs", config.ssl_ca_certs),
    ):
        if path is not None and not os.path.isfile(path):
            raise BindError(f"{flag}: file {path!r} does not exist")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(
            config.ssl_certfile, config.ssl_keyfile, config.ssl_keyfile_password or _no_password
        )
    except _KeyEncrypted:
        raise BindError(
            "the TLS private key is encrypted: give its password with --ssl-keyfile-password"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise BindError(f"cannot load the TLS certificate or key: {exc}") from None
    server_cert = _leaf_cert_pem(config.ssl_certfile)
    if server_cert is not None:
        _server_certs[context] = server_cert
    context.verify_mode = ssl.VerifyMode(config.ssl_cert_reqs)
    if config.ssl_ca_certs:
        try:
            context.load_verify_locations(config.ssl_ca_certs)
        except (OSError, ssl.SSLError) as exc:
            raise BindError(f"cannot load --ssl-ca-certs: {exc}") from None
    if config.ssl_ciphers:
        try:
            context.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise BindError(f"--ssl-ciphers: no cipher matches {config.ssl_ciphers!r}") from None
    # RFC 9113 section 3.2 / RFC 7301: offer h2 first; a client that knows
    # no ALPN, or only http/1.1, is served HTTP/1.1 as before.
    context.set_alpn_protocols(["h2", "http/1.1"] if config.http2 else ["http/1.1"])
    return context


class _KeyEncrypted(Exception):
    pass


def _no_password() -> str:
    # Without a password callback OpenSSL would prompt on the terminal and wait.
    raise _KeyEncrypted


def bind_sockets(config: Config, *, listen: bool = True) -> list[socket.socket]:
    """The listening sockets the config asks for, bound and listening.

    Sockets passed by systemd socket activation win over every address
    option. With `config.reuse_port` a TCP socket gets SO_REUSEPORT;
    `listen=False` only binds it (a supervisor reserving the port that its
    workers bind again must not take connections itself).
    """
    activated = systemd_sockets(config.backlog)
    if activated:
        return activated
    if config.reuse_port and (config.fd is not None or config.uds is not None):
        raise BindError("--reuse-port works with TCP sockets only, not --fd or --uds")
    if config.fd is not None:
        return [_from_fd(config.fd, config.backlog)]
    if config.uds is not None:
        return [_bind_unix(config.uds, config.backlog)]
    return [_bind_tcp(config.host, config.port, config.backlog, config.reuse_port, listen)]


def systemd_sockets(backlog: int) -> list[socket.socket]:
    """The sockets of systemd socket activation (LISTEN_FDS/LISTEN_PID), if any.

    As sd_listen_fds(3) does, the variables count only when LISTEN_PID is
    this process, and they are removed once read so that no child process
    takes them for its own.
    """
    if os.environ.get("LISTEN_PID", "") != str(os.getpid()):
        return []
    try:
        count = int(os.environ.get("LISTEN_FDS", ""))
    except ValueError:
        raise BindError(f"LISTEN_FDS={os.environ.get('LISTEN_FDS')!r} is not a number") from None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    sockets = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        # Already listening, with the unit's Backlog=: no listen() here.
        sock = _from_fd(fd, backlog, source=f"LISTEN_FDS (fd {fd})", listen=False)
        # systemd leaves them inheritable; pass them on only on purpose.
        sock.set_inheritable(False)
        sockets.append(sock)
    return sockets


def _from_fd(
    fd: int, backlog: int, source: str | None = None, listen: bool = True
) -> socket.socket:
    source = source or f"--fd {fd}"
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise BindError(f"{source}: not an open socket ({exc.strerror or exc})") from None
    if sock.type != socket.SOCK_STREAM:
        raise BindError(f"{source}: not a stream socket")
    if listen:
        sock.listen(backlog)
    return sock


def _bind_unix(path: str, backlog: int) -> socket.socket:
    # A socket file left by a previous run would make bind fail; remove it,
    # but never a regular file that happens to have this name.
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind to unix:{path}: {exc.strerror or exc}") from None
    return sock


def _bind_tcp(
    host: str, port: int, backlog: int, reuse_port: bool = False, listen: bool = True
) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror:
        try:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise BindError(f"cannot bind to {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - not on Linux/BSD
                raise OSError("SO_REUSEPORT is not available on this system")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        if listen:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise BindError(f"cannot bind to {shown}: address already in use") from None
        raise BindError(f"cannot bind to {shown}: {exc.strerror or exc}") from None
    return sock


def describe_socket(sock: socket.socket, tls: bool) -> str:
    """A URL-like description of a bound socket, for the log."""
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address}"
    scheme = "https" if tls else "http"
    host, port = address[0], address[1]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


# --------------------------------------------------------------------------
# The ASGI TLS extension (asgiref specs/tls.rst, version 0.2).

# RFC 4514 section 3: the attribute types written by short name; any other
# type is written as its dotted OID (section 2.3).
_RDN_KEYS = {
    "commonName": "CN",
    "countryName": "C",
    "domainComponent": "DC",
    "localityName": "L",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "stateOrProvinceName": "ST",
    "streetAddress": "STREET",
    "userId": "UID",
}
_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_cipher_ids: dict[str, int] = {}
# The PEM of the certificate each context presents (see create_ssl_context).
_server_certs: weakref.WeakKeyDictionary[ssl.SSLContext, str] = weakref.WeakKeyDictionary()
_PEM_CERT = re.compile(
    rb"-----BEGIN (X509 |TRUSTED |)CERTIFICATE-----(.*?)-----END \1CERTIFICATE-----", re.DOTALL
)


def _leaf_cert_pem(certfile: str) -> str | None:
    """The first certificate of `certfile`, in PEM, or None if it cannot be read.

    Python's ssl module does not give back the certificate a context
    presents, so it is read from the file once. The first certificate in the
    file is the one OpenSSL presents (SSL_CTX_use_certificate_chain_file(3));
    the rest is its chain, and a private key may come before it.
    """
    try:
        with open(certfile, "rb") as handle:
            found = _PEM_CERT.search(handle.read())
        if found is None:
            return None
        der = base64.b64decode(b"".join(found.group(2).split()), validate=True)
    except (OSError, binascii.Error):
        return None
    # A TRUSTED CERTIFICATE carries trust settings after the certificate's
    # own DER SEQUENCE (X.690 section 8.1): keep that SEQUENCE only.
    if len(der) < 2 or der[0] != 0x30:
        return None
    if der[1] < 0x80:
        end = 2 + der[1]
    else:
        size = der[1] & 0x7F  # 0 would be BER's indefinite length, never in DER.
        end = 2 + size + int.from_bytes(der[2 : 2 + size], "big")
    if der[1] == 0x80 or end > len(der):
        return None
    return ssl.DER_cert_to_PEM_cert(der[:end])


def _cipher_id(context: ssl.SSLContext, name: str) -> int | None:
    found = _cipher_ids.get(name)
    if found is None:
        # Learn each context's list: one made with --ssl-ciphers lists only its own.
        for cipher in context.get_ciphers():
            # OpenSSL's id is 0x0300XXXX where XXXX is the IANA number.
            _cipher_ids[cipher["name"]] = cipher["id"] & 0xFFFF
        found = _cipher_ids.get(name)
    return found


def _rfc4514_value(value: str) -> str:
    """An attribute value escaped as RFC 4514 section 2.4 requires."""
    last = len(value) - 1
    out = []
    for i, c in enumerate(value):
        if c in '"+,;<>\\' or (c == "#" and i == 0) or (c == " " and i in (0, last)):
            out.append("\\" + c)
        elif c == "\0":
            out.append("\\00")
        else:
            out.append(c)
    return "".join(out)


_attribute_types: dict[str, str] = {}


def _rfc4514_type(name: str) -> str:
    """The attribute type as RFC 4514 section 2.3 writes it: short name or dotted OID."""
    found = _RDN_KEYS.get(name) or _attribute_types.get(name)
    if found is None:
        # Python names the types OpenSSL knows by their long name
        # ("emailAddress"); the others come as dotted OIDs already.
        try:
            found = ssl._ASN1Object.fromname(name).oid
        except ValueError:
            found = name
        _attribute_types[name] = found
    return found


def rfc4514_name(subject: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    """A subject, as `getpeercert()["subject"]` gives it, as an RFC 4514 string.

    RFC 4514 section 2.1 writes the RDNs in the reverse of their DER order
    (most specific first); the values of a multi-valued RDN are joined with
    `+` (section 2.2). For a type outside the table of section 3 the value is
    written as a string, as cryptography's `Name.rfc4514_string()` does: the
    `#`-and-BER-hex form that section 2.4 asks for there would need the
    value's ASN.1 encoding, which Python does not give.
    """
    return ",".join(
        "+".join(f"{_rfc4514_type(key)}={_rfc4514_value(value)}" for key, value in rdn)
        for rdn in reversed(subject)
    )


def _client_cert_chain(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> list[str]:
    """The certificates the client sent, leaf first, in PEM.

    The spec asks for the chain *sent by the client*: that is OpenSSL's
    unverified chain (SSL_get_peer_cert_chain(3), in the order of the
    Certificate message, which RFC 8446 section 4.4.2 and RFC 5246 section
    7.4.2 require to start with the client's own certificate), not the
    verified one, which ends with the server's trust anchor. Python 3.13
    calls it `get_unverified_chain()`; 3.10 to 3.12 have the same call on the
    private `_sslobj` only. Where neither exists, only the leaf is known.
    """
    public = getattr(ssl_object, "get_unverified_chain", None)
    if public is not None:  # Python >= 3.13: DER certificates.
        return [ssl.DER_cert_to_PEM_cert(der) for der in public()]
    private = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:  # Python 3.10 to 3.12: _ssl.Certificate objects.
        return [cert.public_bytes(ssl._ssl.ENCODING_PEM) for cert in private() or ()]  # type: ignore[attr-defined]
    der = ssl_object.getpeercert(binary_form=True)
    return [ssl.DER_cert_to_PEM_cert(der)] if der else []


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, Any]:
    """The `tls` scope extension for one TLS connection."""
    context = ssl_object.context
    chain: list[str] = []
    name = None
    if ssl_object.getpeercert(binary_form=True):
        chain = _client_cert_chain(ssl_object)
        name = rfc4514_name((ssl_object.getpeercert() or {}).get("subject", ()))  # type: ignore[arg-type]
    cipher = ssl_object.cipher()
    return {
        "server_cert": _server_certs.get(context),
        "client_cert_chain": chain,
        "client_cert_name": name,
        # The spec's "provided but verification failed" never reaches an app
        # here: a server asks for a certificate only with --ssl-cert-reqs 1
        # or 2, and with either OpenSSL ends the handshake when the one the
        # client sends does not verify (with 0 none is asked for, and none
        # is sent). So a certificate in the scope is always a verified one.
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": _cipher_id(context, cipher[0]) if cipher else None,
    }
