"""Fixtures for the deploy/ files run with real proxies: every program started
here is stopped at the end of its test, whatever happened."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from deploy_tools import Certificate, Daemon


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[str, list[str]], Daemon]]:
    """Start a program in the foreground: `start(name, argv)`; all are stopped after the test."""
    started: list[Daemon] = []

    def start(name: str, argv: list[str]) -> Daemon:
        daemon = Daemon(argv, tmp_path / f"{name}.log")
        started.append(daemon)
        return daemon

    yield start
    for daemon in reversed(started):
        daemon.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A certificate for nginx's TLS, and a client context that trusts it."""
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost", "shop.example")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return Certificate(cert, key, context)
