"""Restarts under load through nginx lose no request: hurtle processes run
with deploy/systemd/hurtle.service's flags (two workers each) behind
deploy/nginx/hurtle.conf, while wrk sends requests through nginx.

The request counts are printed (pytest -s shows them); docs/deployment.md
quotes them.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from deploy_tools import (
    APP,
    Certificate,
    Daemon,
    free_port,
    hurtle_flags,
    nginx,
    render,
    wrk,
    wrk_result,
)
from support import ServerProcess, wait_for

Start = Callable[[str, list[str]], Daemon]
TCP = {"--forwarded-allow-ips": "127.0.0.1"}
# wrk runs from 1 s before the first signal to 1 s after the last restart is
# over, and is stopped then (SIGINT); this bounds a run that hangs.
LOAD_LIMIT = 45


def behind_nginx(
    daemons: Start, directory: Path, certificate: Certificate, backends: list[str]
) -> str:
    port = free_port()
    site = render(
        "nginx/hurtle.conf",
        {
            "BACKEND": backends,
            "LISTEN": f"127.0.0.1:{port}",
            "SERVER_NAME": "shop.example",
            "CERT": str(certificate.cert),
            "KEY": str(certificate.key),
        },
    )
    daemons("nginx", nginx(directory, site)).wait_listening(port)
    return f"https://127.0.0.1:{port}/"


def rolling_restart(server: ServerProcess) -> None:
    """SIGHUP, then wait until the supervisor says every worker was replaced."""
    done = sum("rolling restart done" in line for line in server.lines)
    server.signal(signal.SIGHUP)
    wait_for(lambda: sum("rolling restart done" in line for line in server.lines) > done, 20)


def test_three_hurtles_restarted_in_turn_then_one_drained(
    hurtle_process: Callable[..., ServerProcess],
    daemons: Start,
    tmp_path: Path,
    certificate: Certificate,
) -> None:
    servers = [hurtle_process(APP, *hurtle_flags(TCP)) for _ in range(3)]
    url = behind_nginx(daemons, tmp_path, certificate, [f"127.0.0.1:{s.port}" for s in servers])
    started = time.monotonic()
    load = wrk(url, LOAD_LIMIT)
    time.sleep(1)
    for server in servers:
        rolling_restart(server)
    servers[2].signal(signal.SIGTERM)
    assert servers[2].wait_exit(20) == 0
    events_over = time.monotonic() - started
    time.sleep(1)  # Load on the two left, after the drain.
    assert load.poll() is None, "wrk ended before the restarts did"
    result = wrk_result(load, 10, stop=True)
    print(
        f"\nthree hurtles behind nginx, each SIGHUP'ed, one SIGTERM'ed: "
        f"{result.requests} requests in {time.monotonic() - started:.1f} s, "
        f"{result.non_2xx} non-2xx, {result.socket_errors} socket errors "
        f"(restarts over at {events_over:.1f} s)"
    )
    assert result.requests > 0, result.output
    assert result.non_2xx == 0, result.output
    assert result.socket_errors == 0, result.output


def test_one_hurtle_with_two_workers_reloaded_behind_nginx(
    hurtle_process: Callable[..., ServerProcess],
    daemons: Start,
    tmp_path: Path,
    certificate: Certificate,
) -> None:
    server = hurtle_process(APP, *hurtle_flags({**TCP, "--workers": "2"}))
    url = behind_nginx(daemons, tmp_path, certificate, [f"127.0.0.1:{server.port}"])
    started = time.monotonic()
    load = wrk(url, LOAD_LIMIT)
    time.sleep(1)
    rolling_restart(server)
    restart_over = time.monotonic() - started
    time.sleep(1)  # Load on the new workers.
    assert load.poll() is None, "wrk ended before the restart did"
    result = wrk_result(load, 10, stop=True)
    print(
        f"\none hurtle --workers 2 behind nginx, SIGHUP'ed: {result.requests} requests in "
        f"{time.monotonic() - started:.1f} s, {result.non_2xx} non-2xx, "
        f"{result.socket_errors} socket errors (restart over at {restart_over:.1f} s)"
    )
    assert result.requests > 0, result.output
    assert result.non_2xx == 0, result.output
    assert result.socket_errors == 0, result.output
