"""Process plumbing: --pid, systemd socket activation, and the process options."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hurtle.cli import parse_flags
from hurtle.config import Config, ConfigError, load_config
from hurtle.net.listen import BindError, bind_sockets
from supervision import Supervised
from support import ServerProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

APP = "apps.worker_apps:app"

# What systemd does for socket activation (sd_listen_fds(3)): the sockets from
# fd 3 on, LISTEN_FDS their count, LISTEN_PID the pid of the process that
# execs the server. exec keeps the pid, so this launcher sets it to its own.
ACTIVATE = """\
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.executable, [sys.executable, "-m", "hurtle", *sys.argv[2:]])
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_systemd_socket_activation(supervised: Callable[..., Supervised], workers: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        fd = listener.fileno()
        # --port 0 is given too (by the fixture): the activated socket wins.
        server = supervised(
            APP,
            "--workers",
            workers,
            command=[sys.executable, "-c", ACTIVATE, str(fd)],
            pass_fds=(fd,),
        )
    assert server.port == port
    if workers == "2":
        server.wait_workers(2)
    response = httpx.get(f"http://127.0.0.1:{port}/")
    assert response.status_code == 200


def test_pid_file_of_a_supervisor(supervised: Callable[..., Supervised], tmp_path: Path) -> None:
    pid_file = tmp_path / "hurtle.pid"
    server = supervised(APP, "--workers", "2", "--pid", str(pid_file))
    server.wait_workers(2)
    assert pid_file.read_text() == f"{server.pid}\n"
    server.signal(signal.SIGTERM)
    assert server.process.wait_exit() == 0
    assert not pid_file.exists()


def test_pid_file_of_a_single_process(
    hurtle_process: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    pid_file = tmp_path / "hurtle.pid"
    server = hurtle_process(APP, "--pid", str(pid_file))
    assert pid_file.read_text() == f"{server.proc.pid}\n"
    assert server.stop() == 0
    assert not pid_file.exists()


def test_pid_file_that_cannot_be_written(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    server = supervised(
        APP, "--workers", "2", "--pid", str(tmp_path / "missing" / "x.pid"), wait=False
    )
    assert server.process.wait_exit() == 1
    assert "--pid" in server.output and "cannot write it" in server.output


def test_web_concurrency_is_below_every_other_setting(tmp_path: Path) -> None:
    assert load_config(environ={}, cwd=tmp_path).workers == 1
    assert load_config(environ={"WEB_CONCURRENCY": "3"}, cwd=tmp_path).workers == 3
    assert load_config(environ={"WEB_CONCURRENCY": ""}, cwd=tmp_path).workers == 1
    both = {"WEB_CONCURRENCY": "3", "HURTLE_WORKERS": "2"}
    assert load_config(environ=both, cwd=tmp_path).workers == 2
    assert load_config({"workers": 4}, environ=both, cwd=tmp_path).workers == 4
    (tmp_path / "hurtle.toml").write_text("workers = 5\n", encoding="utf-8")
    assert load_config(environ={"WEB_CONCURRENCY": "3"}, cwd=tmp_path).workers == 5
    with pytest.raises(ConfigError, match="WEB_CONCURRENCY"):
        load_config(environ={"WEB_CONCURRENCY": "0"}, cwd=tmp_path)


def test_uvicorns_spelling_of_max_requests() -> None:
    assert parse_flags(["--limit-max-requests", "7"]) == {"max_requests": 7}
    assert parse_flags(["--max-requests", "8"]) == {"max_requests": 8}


def test_reuse_port_is_for_tcp_only(tmp_path: Path) -> None:
    with pytest.raises(BindError, match="--reuse-port"):
        bind_sockets(Config(reuse_port=True, uds=str(tmp_path / "s.sock")))


def test_workers_need_an_import_string() -> None:
    code = "import hurtle\nasync def app(scope, receive, send): pass\nhurtle.run(app, workers=2)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "import string" in result.stderr


def test_reload_dir_must_exist(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hurtle", "--reload", "--reload-dir", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--reload-dir" in result.stderr and "not a directory" in result.stderr
