"""The `supervised` fixture: hurtle with worker processes, always stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from supervision import Supervised
from support import ServerProcess


@pytest.fixture
def supervised() -> Iterator[Callable[..., Supervised]]:
    """Start `hurtle ARGS` (with --port 0 unless a socket is given) in its own process group."""
    started: list[Supervised] = []

    def start(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        wait: bool = True,
        command: list[str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> Supervised:
        argv = list(args)
        if not any(a.startswith(("--port", "--uds", "--fd")) for a in argv):
            argv += ["--port", "0"]
        process = ServerProcess(
            argv, env=env, cwd=cwd, command=command, pass_fds=pass_fds, new_session=True
        )
        server = Supervised(process)
        started.append(server)
        if wait:
            process.wait_ready()
        return server

    yield start
    for server in started:
        server.process.stop()
        server.kill_group()  # Whatever is left of the group: workers of a killed supervisor.
