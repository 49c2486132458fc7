"""nginx in front of hurtle, both run from deploy/nginx/hurtle.conf and
deploy/systemd/hurtle.service: what reaches the scope, WebSockets, a streamed
upload and server-sent events, over TCP and over systemd's Unix socket.

The client connects from 127.0.0.2, so that the address hurtle reports can
only have come from nginx's X-Forwarded-For.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from apps.deploy_apps import DeployApp
from deploy_tools import (
    APP,
    Certificate,
    Daemon,
    free_port,
    hurtle_flags,
    nginx,
    render,
    unit_command,
)
from hurtle.cli import parse_flags
from support import TESTS_DIR, InProcessServer, ServerProcess, debian_tool, wait_for

CLIENT = "127.0.0.2"
HOST = "shop.example"
# hurtle on TCP behind nginx on the same machine: nginx connects from 127.0.0.1.
TCP_FLAGS = {"--workers": "1", "--forwarded-allow-ips": "127.0.0.1"}

Start = Callable[[str, list[str]], Daemon]


def start_nginx(daemons: Start, directory: Path, certificate: Certificate, backend: str) -> str:
    """nginx with deploy/nginx/hurtle.conf in front of `backend`; its https URL."""
    port = free_port()
    site = render(
        "nginx/hurtle.conf",
        {
            "BACKEND": backend,
            "LISTEN": f"127.0.0.1:{port}",
            "SERVER_NAME": HOST,
            "CERT": str(certificate.cert),
            "KEY": str(certificate.key),
        },
    )
    daemons("nginx", nginx(directory, site)).wait_listening(port)
    return f"https://127.0.0.1:{port}"


def client(certificate: Certificate, timeout: float = 10) -> httpx.Client:
    transport = httpx.HTTPTransport(verify=certificate.client_context, local_address=CLIENT)
    return httpx.Client(transport=transport, timeout=timeout, headers={"host": HOST})


def websocket_talk(url: str, certificate: Certificate) -> tuple[dict[str, Any], str]:
    async def talk() -> tuple[dict[str, Any], str]:
        async with connect(
            url.replace("https://", "wss://") + "/ws",
            ssl=certificate.client_context,
            local_addr=(CLIENT, 0),
        ) as ws:
            scope = json.loads(await ws.recv())
            await ws.send("through nginx")
            echo = await ws.recv()
            assert isinstance(echo, str)
            return scope, echo

    return asyncio.run(asyncio.wait_for(talk(), 15))


def check_through_nginx(url: str, certificate: Certificate) -> None:
    """The client's address, the scheme and the host of the request reach the
    scope through nginx's headers, for HTTP and for a WebSocket."""
    with client(certificate) as http:
        scope = http.get(url + "/scope").json()
    assert scope["client"][0] == CLIENT
    assert scope["scheme"] == "https"  # nginx speaks TLS, hurtle plain HTTP behind it.
    assert scope["host"] == [HOST]
    ws_scope, echo = websocket_talk(url, certificate)
    assert ws_scope["type"] == "websocket"
    assert ws_scope["client"][0] == CLIENT
    assert ws_scope["scheme"] == "wss"
    assert ws_scope["host"] == ["127.0.0.1"]  # nginx's $host: the URL's, without the port.
    assert echo == "echo: through nginx"


def test_nginx_over_tcp(
    hurtle_process: Callable[..., ServerProcess],
    daemons: Start,
    tmp_path: Path,
    certificate: Certificate,
) -> None:
    server = hurtle_process(APP, *hurtle_flags(TCP_FLAGS))
    url = start_nginx(daemons, tmp_path, certificate, f"127.0.0.1:{server.port}")
    check_through_nginx(url, certificate)


def test_nginx_over_the_unix_socket_of_systemd_socket_activation(
    daemons: Start, tmp_path: Path, certificate: Certificate
) -> None:
    """hurtle.service's very ExecStart, on hurtle.socket's Unix socket handed over
    by systemd-socket-activate (LISTEN_FDS), as systemd would; nginx in front."""
    activate = debian_tool("systemd-socket-activate", "systemd")
    # @APP_DIR@/.venv/bin/hurtle is this test run's hurtle.
    app_dir = tmp_path / "app"
    (app_dir / ".venv" / "bin").mkdir(parents=True)
    (app_dir / ".venv" / "bin" / "hurtle").symlink_to(Path(sys.executable).parent / "hurtle")
    socket_path = tmp_path / "hurtle.sock"
    socket_unit = render("systemd/hurtle.socket", {"SOCKET": str(socket_path)})
    (listen,) = [line for line in socket_unit.splitlines() if line.startswith("ListenStream=")]
    command = unit_command(app_dir)
    pythonpath = os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")])
    hurtle = daemons(
        "hurtle",
        [activate, "-l", listen.removeprefix("ListenStream="), "-E", f"PYTHONPATH={pythonpath}",
         *[f"-E{name}={value}" for name, value in os.environ.items()
           if name.startswith("HURTLE_")], *command],
    )  # fmt: skip
    wait_for(socket_path.exists, 10)
    url = start_nginx(daemons, tmp_path, certificate, f"unix:{socket_path}")
    check_through_nginx(url, certificate)
    assert "--workers" in command
    assert hurtle.proc.poll() is None
    assert "worker pid" in hurtle.output  # The unit's --workers 2: a supervisor and workers.


@contextmanager
def in_process_behind_nginx(
    daemons: Start, tmp_path: Path, certificate: Certificate
) -> Iterator[tuple[DeployApp, str]]:
    app = DeployApp()
    options = parse_flags(hurtle_flags(TCP_FLAGS))
    server = InProcessServer(app, "asyncio", **options)
    try:
        yield app, start_nginx(daemons, tmp_path, certificate, f"127.0.0.1:{server.port}")
    finally:
        server.stop()


def test_a_large_upload_streams_through_nginx_and_hurtle(
    daemons: Start, tmp_path: Path, certificate: Certificate
) -> None:
    """The app has the first chunks of a 64 MiB upload while the client has sent
    only 4 MiB of it: neither nginx nor hurtle holds the whole body back."""
    chunk = b"x" * 65536
    total_chunks = 1024
    with in_process_behind_nginx(daemons, tmp_path, certificate) as (app, url):
        received_early: list[int] = []

        def body() -> Iterator[bytes]:
            for index in range(total_chunks):
                if index == 64:
                    wait_for(lambda: app.upload_bytes > 0, 15)
                    received_early.append(app.upload_bytes)
                yield chunk

        with client(certificate, timeout=60) as http:
            response = http.post(url + "/upload", content=body())
        assert response.status_code == 200, response.text
        assert response.json()["bytes"] == total_chunks * len(chunk)
        assert 0 < received_early[0] <= 64 * len(chunk)
        print(f"\nupload: the app had {received_early[0]} bytes when the client had sent 4 MiB")


def test_server_sent_events_arrive_as_sent(
    daemons: Start, tmp_path: Path, certificate: Certificate
) -> None:
    """The app produces its second event only once the client has the first:
    a proxy that buffered the stream would hold the first back for 10 s."""
    with in_process_behind_nginx(daemons, tmp_path, certificate) as (app, url):
        events: list[str] = []
        with client(certificate, timeout=30) as http, http.stream("GET", url + "/events") as rsp:
            assert rsp.headers["content-type"] == "text/event-stream"
            for line in rsp.iter_lines():
                if line.startswith("data: "):
                    events.append(line.removeprefix("data: "))
                    app.first_event_seen.set()
        assert events == ["first", "second, client had the first: true"]
