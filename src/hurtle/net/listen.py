"""Listening sockets and TLS contexts: TCP, Unix sockets, inherited fds."""

from __future__ import annotations

import errno
import os
import socket
import ssl
import stat
from typing import Any

from hurtle.config import Config

__all__ = ["BindError", "bind_sockets", "create_ssl_context", "describe_socket", "tls_extension"]


class BindError(OSError):
    """A listening socket could not be set up; the message is for the user."""


def create_ssl_context(config: Config) -> ssl.SSLContext | None:
    if config.ssl_certfile is None:
        if config.ssl_keyfile is not None:
            raise BindError("--ssl-keyfile needs --ssl-certfile")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(
            config.ssl_certfile, config.ssl_keyfile, config.ssl_keyfile_password or None
        )
    except (OSError, ssl.SSLError) as exc:
        raise BindError(f"cannot load the TLS certificate or key: {exc}") from None
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
    context.set_alpn_protocols(["http/1.1"])
    return context


def bind_sockets(config: Config) -> list[socket.socket]:
    """The listening sockets the config asks for, bound and listening."""
    if config.fd is not None:
        return [_from_fd(config.fd, config.backlog)]
    if config.uds is not None:
        return [_bind_unix(config.uds, config.backlog)]
    return [_bind_tcp(config.host, config.port, config.backlog)]


def _from_fd(fd: int, backlog: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise BindError(f"--fd {fd}: not an open socket ({exc.strerror or exc})") from None
    if sock.type != socket.SOCK_STREAM:
        raise BindError(f"--fd {fd}: not a stream socket")
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


def _bind_tcp(host: str, port: int, backlog: int) -> socket.socket:
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
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
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
# The ASGI TLS extension (asgiref specs/tls.rst).

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


def _cipher_id(context: ssl.SSLContext, name: str) -> int | None:
    if not _cipher_ids:
        for cipher in context.get_ciphers():
            # OpenSSL's id is 0x0300XXXX where XXXX is the IANA number.
            _cipher_ids[cipher["name"]] = cipher["id"] & 0xFFFF
    return _cipher_ids.get(name)


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, Any]:
    """The `tls` scope extension for one TLS connection."""
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = None
    if der:
        subject = (ssl_object.getpeercert() or {}).get("subject", ())
        # RFC 4514: most specific RDN first.
        name = ",".join(
            "+".join(f"{_RDN_KEYS.get(key, key)}={value}" for key, value in rdn)
            for rdn in reversed(subject)
        )
    cipher = ssl_object.cipher()
    context = ssl_object.context
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": _cipher_id(context, cipher[0]) if cipher else None,
    }
