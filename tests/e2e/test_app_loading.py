"""The app is loaded before the event loop starts (issue 13), in every mode.

Two apps whose import cannot run inside a running event loop: a one-file
Django site that migrates and queries its database at import (Django refuses
the ORM where a loop runs), and an app that calls `asyncio.run()` at import.
Each is served through the CLI in one process, with --workers 2, with
--reload (and after a reload restart), and through `hurtle.run()`; the page
says the import-time work was done by the process that serves it. Only
`Server.serve()` awaited in the caller's own loop imports there, unless the
caller loads the app first with `Server.load()`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import hurtle
from apps.basic import app as basic_app
from hurtle import StartupError
from hurtle.asgi.types import ASGIApp
from supervision import Supervised, children, wait_until
from support import ServerProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# The app's import string, and what its page says: "{done at import} by PID, served by PID".
APPS = {
    "django": ("frameworks.django_site:application", "written at import"),
    "asyncio_run": ("apps.asyncio_run_app:app", "set up by asyncio.run() at import"),
}

StartProcess = Callable[..., Supervised]


@pytest.fixture
def start_process(tmp_path: Path) -> Iterator[StartProcess]:
    """Start hurtle (`command` replaces `python -m hurtle`) in a process group of its own."""
    started: list[Supervised] = []

    def start(*args: str, command: list[str] | None = None) -> Supervised:
        env = {"DJANGO_SITE_DB_DIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
        process = ServerProcess(list(args), env=env, command=command, new_session=True)
        server = Supervised(process)
        started.append(server)
        process.wait_ready(30)
        return server

    yield start
    for server in started:
        server.process.stop()
        server.kill_group()  # Whatever is left: the workers of a supervisor that failed.


def served_by(server: Supervised, done_at_import: str) -> int:
    """Fetch the page; check that the process serving it did the import-time work; its pid."""
    body = httpx.get(server.url + "/", timeout=20).text
    pid = body.rsplit(" ", 1)[-1]
    assert body == f"{done_at_import} by {pid}, served by {pid}", body
    return int(pid)


def run_code(spec: str) -> list[str]:
    return [sys.executable, "-c", f"import hurtle\nhurtle.run({spec!r}, port=0)"]


@pytest.mark.parametrize("app", APPS)
def test_single_process(start_process: StartProcess, app: str) -> None:
    spec, done_at_import = APPS[app]
    server = start_process(spec, "--port", "0")
    assert served_by(server, done_at_import) == server.pid


@pytest.mark.parametrize("app", APPS)
def test_hurtle_run(start_process: StartProcess, app: str) -> None:
    spec, done_at_import = APPS[app]
    server = start_process(command=run_code(spec))
    assert served_by(server, done_at_import) == server.pid


@pytest.mark.parametrize("app", APPS)
def test_workers(start_process: StartProcess, app: str) -> None:
    spec, done_at_import = APPS[app]
    server = start_process(spec, "--port", "0", "--workers", "2")
    workers = server.wait_workers(2, timeout=30)
    assert served_by(server, done_at_import) in workers


@pytest.mark.parametrize("app", APPS)
def test_reload_and_its_restart(start_process: StartProcess, app: str, tmp_path: Path) -> None:
    spec, done_at_import = APPS[app]
    watched = tmp_path / "watched"
    watched.mkdir()
    server = start_process(spec, "--port", "0", "--reload", "--reload-dir", str(watched))
    (first,) = server.wait_workers(1, timeout=30)
    assert served_by(server, done_at_import) == first

    (watched / "edited.py").write_text("EDITED = True\n", encoding="utf-8")
    wait_until(lambda: first not in children(server.pid), 20, "the first worker has gone")
    (second,) = server.wait_workers(1, timeout=30)
    assert served_by(server, done_at_import) == second != first


def test_server_load_before_the_callers_loop(start_process: StartProcess) -> None:
    spec, done_at_import = APPS["asyncio_run"]
    code = (
        "import asyncio, hurtle, logging\n"
        "logging.basicConfig(level=logging.INFO)  # For the 'serving on' line.\n"
        f"server = hurtle.Server({spec!r}, port=0)\n"
        "server.load()\n"
        "asyncio.run(server.serve())\n"
    )
    server = start_process(command=[sys.executable, "-c", code])
    assert served_by(server, done_at_import) == server.pid


def test_serve_in_the_callers_loop_imports_there() -> None:
    spec, _ = APPS["asyncio_run"]
    code = f"import asyncio, hurtle\nasyncio.run(hurtle.serve({spec!r}, port=0))\n"
    process = ServerProcess([], command=[sys.executable, "-c", code])
    assert process.wait_exit(30) == 1
    assert (
        f"StartupError: cannot import {spec!r}: RuntimeError: "
        "asyncio.run() cannot be called from a running event loop"
    ) in process.output


def test_load_is_done_once() -> None:
    made: list[ASGIApp] = []

    def factory() -> ASGIApp:
        made.append(basic_app)
        return basic_app

    server = hurtle.Server(factory, hurtle.Config(port=0, factory=True, log_level="warning"))
    loaded = server.load()
    assert server.load() is loaded
    assert len(made) == 1

    async def main() -> str:
        serving = asyncio.create_task(server.serve(install_signal_handlers=False))
        started = asyncio.create_task(server.started.wait())
        await asyncio.wait([serving, started], timeout=15, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        assert started.done() and not serving.done(), "the server did not start"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                return (await client.get(server.addresses[0] + "/")).text
        finally:
            server.shutdown()
            await serving

    assert asyncio.run(main()) == "Hello, world!"
    assert len(made) == 1  # serve() used the loaded app instead of calling the factory again.


def test_load_raises_startup_error() -> None:
    server = hurtle.Server("apps.no_such_module:app", port=0)
    with pytest.raises(StartupError) as failed:
        server.load()
    assert failed.value.exit_code == 1
    assert str(failed.value) == (
        "cannot import 'apps.no_such_module:app': no module named 'apps.no_such_module'"
    )
