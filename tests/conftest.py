"""Fixtures that start real hurtle servers (see support.py) and always stop them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hurtle.config import LoopName
from support import LOOPS, InProcessServer, ServerProcess


@pytest.fixture
def hurtle_process() -> Iterator[Callable[..., ServerProcess]]:
    """Start `hurtle ARGS` (with --port 0 unless a socket is given) and wait until it serves."""
    started: list[ServerProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, wait: bool = True
    ) -> ServerProcess:
        argv = list(args)
        if not any(a.startswith(("--port", "--uds", "--fd")) for a in argv):
            argv += ["--port", "0"]
        process = ServerProcess(argv, env=env, cwd=cwd)
        started.append(process)
        if wait:
            process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> LoopName:
    name: LoopName = request.param
    return name


@pytest.fixture
def serve_app(loop_name: LoopName) -> Iterator[Callable[..., InProcessServer]]:
    """Serve an ASGI app object in-process on the parametrized loop."""
    servers: list[InProcessServer] = []

    def start(app: Any, **options: Any) -> InProcessServer:
        server = InProcessServer(app, loop_name, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
