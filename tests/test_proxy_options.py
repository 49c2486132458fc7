"""The proxy options: defaults, the allow list's checks and where it is read from."""

from __future__ import annotations

from pathlib import Path

import pytest

from hurtle.cli import parse_flags
from hurtle.config import Config, ConfigError, load_config


def test_defaults() -> None:
    config = Config()
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == ["127.0.0.1"]
    assert config.proxy_headers_style == "x-forwarded"
    assert config.forwarded_host is False
    assert config.proxy_protocol is False


@pytest.mark.parametrize(
    "entries",
    [["127.0.0.1", "10.0.0.0/8"], ["127.0.0.1,::1, 2001:db8::/32"], ["*"], ["unix"], []],
)
def test_good_allow_lists(entries: list[str]) -> None:
    assert Config(forwarded_allow_ips=entries).forwarded_allow_ips == entries


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.1/8", "1.2.3.4.5", "127.0.0.1;10.0.0.1"])
def test_bad_allow_lists(entry: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config(forwarded_allow_ips=[entry])
    assert caught.value.source == "--forwarded-allow-ips"


def test_flag_repeated_or_comma_separated() -> None:
    flags = parse_flags(
        ["--forwarded-allow-ips", "10.0.0.0/8,unix", "--forwarded-allow-ips", "::1"]
    )
    config = load_config(flags, environ={}, cwd=Path("/nonexistent"))
    assert config.forwarded_allow_ips == ["10.0.0.0/8,unix", "::1"]


def test_environment_layers() -> None:
    """HURTLE_FORWARDED_ALLOW_IPS beats FORWARDED_ALLOW_IPS (uvicorn's), which beats
    the default; a bad value names the variable."""
    none = Path("/nonexistent")
    fallback = load_config(environ={"FORWARDED_ALLOW_IPS": "10.0.0.1, 10.0.0.2"}, cwd=none)
    assert fallback.forwarded_allow_ips == ["10.0.0.1", " 10.0.0.2"]
    ours = load_config(
        environ={"FORWARDED_ALLOW_IPS": "*", "HURTLE_FORWARDED_ALLOW_IPS": "10.0.0.9"}, cwd=none
    )
    assert ours.forwarded_allow_ips == ["10.0.0.9"]
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"FORWARDED_ALLOW_IPS": "proxy.internal"}, cwd=none)
    assert caught.value.source == "FORWARDED_ALLOW_IPS"


def test_toml_list(tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text(
        'forwarded-allow-ips = ["10.0.0.0/8", "unix"]\nproxy-protocol = true\n'
    )
    config = load_config(environ={}, cwd=tmp_path)
    assert config.forwarded_allow_ips == ["10.0.0.0/8", "unix"]
    assert config.proxy_protocol


def test_proxy_protocol_and_tls_are_refused_together() -> None:
    with pytest.raises(ConfigError, match="cannot be combined with TLS"):
        Config(proxy_protocol=True, ssl_certfile="cert.pem")
