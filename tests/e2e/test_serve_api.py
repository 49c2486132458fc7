"""The programmatic API: `Server` in an event loop the caller owns, `serve()`, `run()`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest

import hurtle
from apps.basic import app
from apps.lifespan_apps import FAILED_MESSAGE, startup_failed_app
from hurtle.asgi.types import Receive, Scope, Send
from hurtle.config import LoopName
from support import TESTS_DIR

T = TypeVar("T")


def run_in_loop(loop_name: LoopName, main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion in a new event loop of the given kind."""
    if loop_name == "asyncio":
        return asyncio.run(main)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def start(server: hurtle.Server) -> asyncio.Task[None]:
    """Start `server.serve()` as a task; return once it serves (or raise why it cannot)."""
    task = asyncio.create_task(server.serve(install_signal_handlers=False))
    started = asyncio.create_task(server.started.wait())
    await asyncio.wait([task, started], timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        task.result()  # Raises StartupError.
        raise AssertionError("serve() returned before serving")
    assert started.done(), "the server did not start within 15 s"
    return task


def is_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --------------------------------------------------------------------------
# Server in the caller's loop


def test_server_serves_in_the_callers_loop(loop_name: LoopName) -> None:
    async def main() -> tuple[list[str], httpx.Response, hurtle.Server]:
        server = hurtle.Server(app, hurtle.Config(port=0, log_level="warning"))
        task = await start(server)
        try:
            addresses = list(server.addresses)
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(addresses[0] + "/scope")
        finally:
            server.shutdown()
            await asyncio.wait_for(task, 15)
        assert task.result() is None
        return addresses, response, server

    addresses, response, _ = run_in_loop(loop_name, main())
    assert len(addresses) == 1
    assert addresses[0].startswith("http://127.0.0.1:")
    port = int(addresses[0].rsplit(":", 1)[1])
    assert port != 0
    assert response.status_code == 200
    scope = response.json()
    assert scope["server"] == ["127.0.0.1", port]
    # Lifespan startup ran in the caller's loop too.
    assert scope["state"] == {"greeting": "hello from lifespan"}
    # serve() returned: the port is closed.
    assert is_refused(port)


def test_server_accepts_an_import_string_and_options() -> None:
    async def main() -> int:
        server = hurtle.Server("apps.basic:app", port=0, log_level="warning")
        task = await start(server)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(server.addresses[0] + "/")
        finally:
            server.shutdown()
            await asyncio.wait_for(task, 15)
        return response.status_code

    assert asyncio.run(main()) == 200


def test_shutdown_waits_for_requests_in_flight(loop_name: LoopName) -> None:
    async def main() -> tuple[int, bytes, bool]:
        request_started = asyncio.Event()
        finish = asyncio.Event()

        async def waiting_app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            request_started.set()
            await finish.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"finished"})

        server = hurtle.Server(waiting_app, port=0, log_level="warning", lifespan="off")
        task = await start(server)
        async with httpx.AsyncClient(timeout=15) as client:
            request = asyncio.create_task(client.get(server.addresses[0] + "/"))
            await asyncio.wait_for(request_started.wait(), 15)
            server.shutdown()
            await asyncio.sleep(0.2)
            still_serving = not task.done()
            finish.set()
            response = await request
        await asyncio.wait_for(task, 15)
        return response.status_code, response.content, still_serving

    status, body, still_serving = run_in_loop(loop_name, main())
    assert still_serving
    assert (status, body) == (200, b"finished")


def test_forced_shutdown_cancels_requests(loop_name: LoopName) -> None:
    async def main() -> tuple[BaseException | None, bool]:
        request_started = asyncio.Event()
        cancelled = False

        async def endless_app(scope: Scope, receive: Receive, send: Send) -> None:
            nonlocal cancelled
            if scope["type"] != "http":
                return
            request_started.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled = True
                raise

        server = hurtle.Server(endless_app, port=0, lifespan="off", timeout_graceful_shutdown=3600)
        task = await start(server)
        async with httpx.AsyncClient(timeout=15) as client:
            request = asyncio.create_task(client.get(server.addresses[0] + "/"))
            await asyncio.wait_for(request_started.wait(), 15)
            server.shutdown(force=True)
            await asyncio.wait_for(task, 15)
            done, _ = await asyncio.wait([request], timeout=15)
            assert done, "the client's request did not end"
            error = request.exception()
        return error, cancelled

    error, cancelled = run_in_loop(loop_name, main())
    assert isinstance(error, httpx.TransportError)
    assert cancelled


# --------------------------------------------------------------------------
# Startup errors are raised, never exit the caller's process


def test_serve_raises_startup_error_on_a_port_in_use(busy_port: int) -> None:
    with pytest.raises(hurtle.StartupError) as caught:
        asyncio.run(hurtle.serve(app, port=busy_port, log_level="warning"))
    assert caught.value.exit_code == 1
    assert str(caught.value) == f"cannot bind to 127.0.0.1:{busy_port}: address already in use"


def test_server_raises_startup_error_when_lifespan_startup_fails(loop_name: LoopName) -> None:
    server = hurtle.Server(startup_failed_app, port=0, log_level="critical")

    async def main() -> None:
        await server.serve(install_signal_handlers=False)

    with pytest.raises(hurtle.StartupError) as caught:
        run_in_loop(loop_name, main())
    assert caught.value.exit_code == 3
    assert FAILED_MESSAGE in str(caught.value)
    # The socket bound before startup is closed again.
    assert server.sockets
    assert all(sock.fileno() == -1 for sock in server.sockets)
    assert not server.started.is_set()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"app": "apps.no_such_module:app"}, "apps.no_such_module"),
        ({"app": app, "ssl_certfile": "/nonexistent/cert.pem"}, "/nonexistent/cert.pem"),
    ],
    ids=["import-error", "missing-certificate"],
)
def test_serve_raises_startup_error_on_bad_setup(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(hurtle.StartupError) as caught:
        asyncio.run(hurtle.serve(port=0, log_level="critical", **options))
    assert caught.value.exit_code == 1
    assert expected in str(caught.value)


# --------------------------------------------------------------------------
# hurtle.run in a process of its own


def python_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    return env


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=TESTS_DIR,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
    )


def test_run_exits_1_on_a_port_in_use(busy_port: int) -> None:
    result = run_python(f"import hurtle; hurtle.run('apps.basic:app', port={busy_port})")
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == [
        f"hurtle: error: cannot bind to 127.0.0.1:{busy_port}: address already in use"
    ]


def test_run_exits_3_when_startup_fails() -> None:
    result = run_python(
        "import hurtle\n"
        "from apps.lifespan_apps import startup_failed_app\n"
        "hurtle.run(startup_failed_app, port=0)\n"
    )
    assert result.returncode == 3
    assert FAILED_MESSAGE in result.stdout


def test_run_serves_until_sigterm_and_exits_0() -> None:
    code = "import hurtle\nfrom apps.basic import app\nhurtle.run(app, port=0)\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=TESTS_DIR,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    serving = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "serving on " in line:
                serving.set()
        serving.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert serving.wait(15) and lines, "hurtle.run did not start"
        url = lines[-1].split("serving on ")[1].split()[0]
        response = httpx.get(url + "/", timeout=10)
        assert response.text == "Hello, world!"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        reader.join(5)
