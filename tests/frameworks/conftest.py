"""A hurtle subprocess per test module: the frameworks are slow to import, the tests are not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import ServerProcess

FRAMEWORKS_DIR = Path(__file__).parent


@pytest.fixture(scope="module")
def start_server() -> Iterator[Callable[..., ServerProcess]]:
    """Start `hurtle ARGS --port 0` once for the module, and stop it after the module."""
    started: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
        process = ServerProcess([*args, "--port", "0", "--no-access-log"], env=env)
        started.append(process)
        process.wait_ready(30)
        return process

    yield start
    for process in started:
        assert process.stop() == 0, process.output
