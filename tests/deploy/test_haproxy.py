"""HAProxy in front of hurtle with deploy/haproxy/haproxy.cfg: the client's
address arrives in the PROXY protocol header (version 2 as the file says,
version 1 with send-proxy), and HTTP/2 cleartext with `proto h2`.

The client connects from 127.0.0.2 and HAProxy sends no X-Forwarded-For, so
the address hurtle reports can only have come from the PROXY header.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from deploy_tools import APP, Daemon, free_port, haproxy, hurtle_flags, render
from support import ServerProcess

Start = Callable[[str, list[str]], Daemon]

FORMS = {
    "v2": {},
    "v1": {" send-proxy-v2\n": " send-proxy\n"},
    "v2-h2c": {" send-proxy-v2\n": " send-proxy-v2 proto h2\n"},
}


@pytest.mark.parametrize("form", list(FORMS))
def test_haproxy_in_front(
    form: str, hurtle_process: Callable[..., ServerProcess], daemons: Start, tmp_path: Path
) -> None:
    flags = hurtle_flags({"--workers": "1", "--forwarded-allow-ips": "127.0.0.1"})
    server = hurtle_process(APP, *flags, "--proxy-protocol")
    port = free_port()
    config = render(
        "haproxy/haproxy.cfg",
        {"LISTEN": f"127.0.0.1:{port}", "NAME": "hurtle1", "BACKEND": f"127.0.0.1:{server.port}"},
        FORMS[form],
    )
    proxy = daemons("haproxy", haproxy(tmp_path, config))
    proxy.wait_listening(port)
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=10) as client:
        scopes = [client.get(f"http://127.0.0.1:{port}/scope").json() for _ in range(3)]
    for scope in scopes:
        assert scope["client"][0] == "127.0.0.2", proxy.output
        assert scope["scheme"] == "http"
        assert scope["http_version"] == ("2" if form.endswith("h2c") else "1.1")
    # HAProxy's health checks send the header too: hurtle closed no connection for want of one.
    assert "closed a connection" not in server.output
