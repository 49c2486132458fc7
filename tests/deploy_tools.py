"""The files of deploy/, filled in for a test, and the real programs that run them.

A deploy/ file marks what a user fills in with words between @ signs
(@BACKEND@). `render` fills them in; a line whose placeholder gets a list is
repeated once per item (one `server` line per hurtle). Comment lines are left
as they are. nginx, HAProxy and wrk are Debian's, installed when missing.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from support import REPO, debian_tool


@dataclass
class Certificate:
    """nginx's TLS certificate and key, and a client context that trusts them."""

    cert: Path
    key: Path
    client_context: ssl.SSLContext


DEPLOY = REPO / "deploy"
PLACEHOLDER = re.compile(r"@[A-Z_]+@")
APP = "apps.deploy_apps:app"


def render(
    name: str, values: Mapping[str, str | Sequence[str]], edits: Mapping[str, str] | None = None
) -> str:
    """deploy/`name` with its placeholders filled in from `values` (keys without
    the @ signs); `edits` first replaces exact pieces of text, each of which must be there."""
    text = (DEPLOY / name).read_text()
    for old, new in (edits or {}).items():
        assert old in text, f"deploy/{name} no longer contains {old!r}"
        text = text.replace(old, new)
    used: set[str] = set()
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#"):
            lines.append(line)
            continue
        found = [word.strip("@") for word in PLACEHOLDER.findall(line)]
        missing = [word for word in found if word not in values]
        assert not missing, f"deploy/{name}: no value for {missing} in {line!r}"
        used.update(found)
        lists = {word: values[word] for word in found if not isinstance(values[word], str)}
        copies = {len(items) for items in lists.values()} or {1}
        assert len(copies) == 1, f"deploy/{name}: lists of different lengths on {line!r}"
        for index in range(copies.pop()):
            filled = line
            for word in found:
                value = values[word]
                filled = filled.replace(
                    f"@{word}@", value if isinstance(value, str) else value[index]
                )
            lines.append(filled)
    assert used == set(values), f"deploy/{name} has no {sorted(set(values) - used)}"
    return "".join(lines)


def unit_command(app_dir: Path) -> list[str]:
    """The ExecStart of deploy/systemd/hurtle.service, split as systemd splits it."""
    unit = render("systemd/hurtle.service", {"APP": APP, "APP_DIR": str(app_dir), "USER": "app"})
    (line,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def hurtle_flags(overrides: Mapping[str, str] | None = None) -> list[str]:
    """The flags hurtle.service runs hurtle with, each of `overrides` replacing
    the flag's value there (or added)."""
    flags = unit_command(Path("/srv/app"))[2:]
    for flag, value in (overrides or {}).items():
        if flag in flags:
            flags[flags.index(flag) + 1] = value
        else:
            flags += [flag, value]
    return flags


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Daemon:
    """A program in the foreground, its output in a file; `stop` always ends it."""

    def __init__(self, argv: list[str], log: Path, env: Mapping[str, str] | None = None) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_listening(self, port: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.log.stem} exited:\n{self.output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.log.stem} is not listening on {port}:\n{self.output}")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


def nginx(directory: Path, site: str) -> list[str]:
    """The command that runs nginx in the foreground with `site` (an http-block
    file such as deploy/nginx/hurtle.conf, filled in), everything under `directory`."""
    executable = debian_tool("nginx", "nginx")
    (directory / "site.conf").write_text(site)
    # As root, nginx's workers would switch to "nobody", who cannot read the
    # test's key file; as anyone else the directive is not allowed.
    user = "user root;" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(
        f"""daemon off;
{user}
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    include {directory / "site.conf"};
}}
"""
    )
    return [executable, "-p", str(directory), "-e", str(directory / "error.log"),
            "-c", str(directory / "nginx.conf")]  # fmt: skip


def haproxy(directory: Path, config: str) -> list[str]:
    """The command that runs HAProxy in the foreground with `config`."""
    executable = debian_tool("haproxy", "haproxy")
    path = directory / "haproxy.cfg"
    path.write_text(config)
    return [executable, "-db", "-f", str(path)]


class WrkResult:
    """wrk's summary: requests completed, and those that failed one way or another."""

    def __init__(self, output: str) -> None:
        self.output = output
        match = re.search(r"(\d+) requests in", output)
        assert match, output
        self.requests = int(match.group(1))
        errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
        )
        self.socket_errors = sum(int(n) for n in errors.groups()) if errors else 0
        non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        self.non_2xx = int(non_2xx.group(1)) if non_2xx else 0


def wrk(url: str, seconds: int, connections: int = 8) -> subprocess.Popen[str]:
    """wrk loading `url` for up to `seconds` (one thread); read it with `wrk_result`."""
    executable = debian_tool("wrk", "wrk")
    return subprocess.Popen(
        [executable, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wrk_result(load: subprocess.Popen[str], timeout: float, stop: bool = False) -> WrkResult:
    """wrk's summary once it has finished, or at once with `stop`: wrk ends
    its run on SIGINT and prints the summary of what it did so far."""
    if stop:
        load.send_signal(signal.SIGINT)
    try:
        output, _ = load.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        load.kill()
        output, _ = load.communicate(timeout=5)
        raise AssertionError("wrk did not finish:\n" + output) from None
    return WrkResult(output)
