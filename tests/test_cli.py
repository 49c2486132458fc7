"""The `hurtle` command, run for real: exit codes, error lines, and options taking effect.

Every test starts `python -m hurtle` as a subprocess and talks to it over real
sockets on 127.0.0.1 (or a Unix socket); every process is stopped, every wait
bounded.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from hurtle import __version__
from hurtle._pure import COMPILABLE
from hurtle.config import options
from support import TESTS_DIR, ServerProcess
from test_compiled import built_extensions

StartServer = Callable[..., ServerProcess]
RUN_TIMEOUT = 30.0
HTTP_TIMEOUT = 15.0


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child hurtle: ours without HURTLE_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HURTLE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_hurtle(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m hurtle ARGS` to completion (it is killed if it outlives the timeout)."""
    return subprocess.run(
        [sys.executable, "-m", "hurtle", *args],
        cwd=str(cwd),
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed start prints on stderr (and nothing on stdout).

    An exception raised by the app's code is followed by where it was raised
    (the two lines a traceback gives that frame) and the hint to see more.
    """
    lines = result.stderr.splitlines()
    if len(lines) == 4:
        assert lines[1].startswith('  File "'), result.stderr
        assert lines[3] == "  (--log-level debug shows the whole traceback)", result.stderr
        lines = lines[:1]
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    assert lines[0].startswith("hurtle: error: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def broken_apps(tmp_path: Path) -> Path:
    """A directory of modules that fail to import in different ways."""
    apps = tmp_path / "broken_apps"
    apps.mkdir()
    (apps / "raises_at_import.py").write_text(
        "def helper():\n    raise RuntimeError('broken on purpose')\n\nhelper()\napp = None\n"
    )
    (apps / "needs_missing_dep.py").write_text("import missing_dependency_xyz\napp = None\n")
    (apps / "not_callable.py").write_text("app = 42\n")
    return apps


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A TCP socket bound to 127.0.0.1 and listening, closed afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock
    finally:
        sock.close()


def url_of(server: ServerProcess) -> str:
    assert server.url is not None, server.output
    return server.url


def get(url: str, params: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(url, params=params, timeout=HTTP_TIMEOUT)


# -- usage errors: exit 2 and one line ------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "abc"], "--port: expected an integer from 0 to 65535, got 'abc'"),
        (["--port", "70000"], "--port: expected an integer from 0 to 65535, got 70000"),
        (["--port", "-1"], "--port: expected an integer from 0 to 65535"),
        (["--loop", "nope"], "--loop: expected one of 'auto', 'asyncio', 'uvloop', got 'nope'"),
        (["--lifespan", "maybe"], "--lifespan: expected one of 'auto', 'on', 'off'"),
        (["--log-level", "loud"], "--log-level: expected one of 'critical'"),
        (["--timeout-keep-alive", "soon"], "--timeout-keep-alive: expected a number >= 0"),
        (["--backlog", "0"], "--backlog: expected an integer >= 1, got 0"),
        (["--ssl-cert-reqs", "3"], "--ssl-cert-reqs: expected an integer from 0 to 2"),
        (["--header", "No-Colon"], "--header: expected 'Name: value'"),
        (["--header", "Bad Name: 1"], "--header: header name 'Bad Name' is not a valid"),
        (["--header", "X-A: 1\r\nX-B: 2"], "--header: expected 'Name: value'"),
    ],
)
def test_bad_flag_value(tmp_path: Path, args: list[str], expected: str) -> None:
    result = run_hurtle("apps.basic:app", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in error_line(result)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HURTLE_PORT", "abc", "HURTLE_PORT: expected an integer from 0 to 65535, got 'abc'"),
        ("HURTLE_PORT", "70000", "HURTLE_PORT: expected an integer from 0 to 65535"),
        ("HURTLE_LOOP", "nope", "HURTLE_LOOP: expected one of 'auto', 'asyncio', 'uvloop'"),
        ("HURTLE_ACCESS_LOG", "sometimes", "HURTLE_ACCESS_LOG: expected a boolean"),
        ("HURTLE_HEADER", "X-A: 1\nX-B: 2", "HURTLE_HEADER: expected 'Name: value'"),
    ],
)
def test_bad_environment_value(tmp_path: Path, variable: str, value: str, expected: str) -> None:
    result = run_hurtle("apps.basic:app", cwd=tmp_path, env={variable: value})
    assert result.returncode == 2
    assert expected in error_line(result)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('port = "abc"\n', "port: expected an integer from 0 to 65535, got 'abc'"),
        ('lifespan = "maybe"\n', "lifespan: expected one of 'auto', 'on', 'off'"),
        ("wrokers = 4\n", "wrokers: unknown option"),
        ("port = = 1\n", "cannot read it"),
    ],
)
def test_bad_value_in_hurtle_toml(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "hurtle.toml").write_text(content)
    result = run_hurtle("apps.basic:app", cwd=tmp_path)
    assert result.returncode == 2
    line = error_line(result)
    assert str(tmp_path / "hurtle.toml") in line
    assert expected in line


def test_bad_value_in_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.hurtle]\nport = 70000\n")
    result = run_hurtle("apps.basic:app", cwd=tmp_path)
    assert result.returncode == 2
    assert "pyproject.toml: port: expected an integer from 0 to 65535" in error_line(result)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--port"], "--port"),
        (["--loop"], "--loop"),
        (["apps.basic:app", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_unknown_flag_or_missing_value(tmp_path: Path, args: list[str], expected: str) -> None:
    result = run_hurtle(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in error_line(result)


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_hurtle("apps.basic:app", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.toml' does not exist" in error_line(result)


def test_missing_env_file(tmp_path: Path) -> None:
    result = run_hurtle("apps.basic:app", "--env-file", str(tmp_path / "x.env"), cwd=tmp_path)
    assert result.returncode == 2
    assert "--env-file: file" in error_line(result)


# -- the app cannot be loaded: exit 1 and one line ---------------------------------


@pytest.mark.parametrize(
    ("app", "reason"),
    [
        ("no_such_module_xyz:app", "no module named 'no_such_module_xyz'"),
        ("apps.no_such_module:app", "no module named 'apps.no_such_module'"),
        ("apps.basic:nope", "module 'apps.basic' has no attribute 'nope'"),
        ("apps.cli_apps:holder.nope", "has no attribute 'holder.nope'"),
        ("apps.basic", "expected 'module:attribute'"),
        ("raises_at_import:app", "RuntimeError: broken on purpose"),
        ("needs_missing_dep:app", "No module named 'missing_dependency_xyz'"),
        ("not_callable:app", "the app is not callable: 42"),
    ],
)
def test_app_cannot_be_imported(broken_apps: Path, app: str, reason: str) -> None:
    result = run_hurtle(app, "--app-dir", str(broken_apps), cwd=broken_apps.parent)
    assert result.returncode == 1
    line = error_line(result)
    if "callable" not in reason:
        assert repr(app) in line
    assert reason in line


def test_import_error_traceback_at_debug_level(broken_apps: Path) -> None:
    result = run_hurtle(
        "raises_at_import:app",
        "--app-dir",
        str(broken_apps),
        "--log-level",
        "debug",
        cwd=broken_apps.parent,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "in helper" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "hurtle: error: cannot import 'raises_at_import:app': RuntimeError: broken on purpose"
    )


def test_import_error_shows_the_line_in_the_users_code(broken_apps: Path) -> None:
    result = run_hurtle(
        "raises_at_import:app", "--app-dir", str(broken_apps), cwd=broken_apps.parent
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "hurtle: error: cannot import 'raises_at_import:app': RuntimeError: broken on purpose"
    )
    # The deepest frame of the user's file, not importlib's.
    assert lines[1] == f'  File "{broken_apps / "raises_at_import.py"}", line 2, in helper'
    assert lines[2] == "    raise RuntimeError('broken on purpose')"
    assert "--log-level debug" in lines[3]


def test_import_error_inside_a_library_shows_the_users_call(tmp_path: Path) -> None:
    (tmp_path / "calls_json.py").write_text(
        "import json\n\nsettings = json.loads('{not json')\napp = None\n"
    )
    result = run_hurtle("calls_json:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert "JSONDecodeError" in lines[0]
    assert lines[1] == f'  File "{tmp_path / "calls_json.py"}", line 3, in <module>'
    assert lines[2] == "    settings = json.loads('{not json')"


def test_syntax_error_shows_its_line(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text("app = None\ndef broken(:\n    pass\n")
    result = run_hurtle("typo:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert "SyntaxError" in lines[0]
    assert lines[1] == f'  File "{tmp_path / "typo.py"}", line 2'
    assert lines[2] == "    def broken(:"


def test_factory_that_raises(tmp_path: Path) -> None:
    (tmp_path / "bad_factory.py").write_text(
        "def make():\n    raise ValueError('no database configured')\n"
    )
    result = run_hurtle("bad_factory:make", "--factory", "--app-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "the app factory raised ValueError: no database configured" in error_line(result)


# -- sockets that cannot be bound: exit 1 and one line ----------------------------


def test_port_in_use(tmp_path: Path, listening_socket: socket.socket) -> None:
    port = listening_socket.getsockname()[1]
    result = run_hurtle("apps.basic:app", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    line = error_line(result)
    assert f"127.0.0.1:{port}" in line
    assert "address already in use" in line


def test_fd_that_is_not_open(tmp_path: Path) -> None:
    result = run_hurtle("apps.basic:app", "--fd", "987", cwd=tmp_path)
    assert result.returncode == 1
    assert "--fd 987" in error_line(result)


def test_uds_in_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "h.sock"
    result = run_hurtle("apps.basic:app", "--uds", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot bind to unix:{path}" in error_line(result)


# -- lifespan ------------------------------------------------------------------


def test_lifespan_on_without_support_exits_3(tmp_path: Path) -> None:
    result = run_hurtle("apps.cli_apps:http_only_app", "--lifespan", "on", cwd=tmp_path)
    assert result.returncode == 3
    assert "hurtle: error: application startup failed" in result.stderr
    assert "serving on" not in result.stderr


def test_lifespan_auto_tolerates_missing_support(hurtle_process: StartServer) -> None:
    server = hurtle_process("apps.cli_apps:http_only_app", "--lifespan", "auto")
    assert get(url_of(server) + "/").text == "http only"


# -- information -----------------------------------------------------------------


@pytest.mark.parametrize("pure", [False, True])
def test_version(tmp_path: Path, pure: bool) -> None:
    """hurtle's version, the Python, uvloop and httptools, and compiled or not."""
    env = {"HURTLE_PURE_PYTHON": "1" if pure else "0"}
    result = run_hurtle("--version", cwd=tmp_path, env=env)
    assert result.returncode == 0
    first, python, uvloop, httptools = result.stdout.splitlines()
    built = [name for name in COMPILABLE if built_extensions(name)]
    if pure:
        assert first == f"hurtle {__version__}: pure Python (HURTLE_PURE_PYTHON=1)"
    elif built:
        assert (
            first == f"hurtle {__version__}: compiled ({len(built)} of {len(COMPILABLE)} modules)"
        )
    else:
        assert first == f"hurtle {__version__}: pure Python (no compiled modules installed)"
    assert python == f"Python {platform.python_version()} ({platform.python_implementation()})"
    assert uvloop == f"uvloop {metadata.version('uvloop')}"
    assert httptools == f"httptools {metadata.version('httptools')}"


def test_help_lists_every_option(tmp_path: Path) -> None:
    result = run_hurtle("--help", cwd=tmp_path, env={"COLUMNS": "100"})
    assert result.returncode == 0
    assert result.stdout.startswith("usage: hurtle")
    for opt in options():
        if not opt.cli:
            continue
        if opt.name == "app":
            assert "APP" in result.stdout
            continue
        assert opt.flag in result.stdout, opt.flag
        assert opt.env_var in result.stdout, opt.env_var
        if opt.is_bool:
            assert f"--no-{opt.flag[2:]}" in result.stdout, opt.flag


# -- finding the app -------------------------------------------------------------


def test_no_app_serves_the_demo(hurtle_process: StartServer) -> None:
    server = hurtle_process()
    assert any(
        "serving hurtle's built-in demo; pass MODULE:APP to serve yours" in line
        for line in server.lines
    ), server.output
    response = get(url_of(server) + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "hurtle" in response.text.lower()


def test_factory(hurtle_process: StartServer) -> None:
    server = hurtle_process("apps.cli_apps:create_app", "--factory")
    assert get(url_of(server) + "/").text == "made by the factory"


def test_app_dir(hurtle_process: StartServer, tmp_path: Path) -> None:
    app_dir = tmp_path / "project"
    app_dir.mkdir()
    (app_dir / "tmp_main.py").write_text(
        "async def app(scope, receive, send):\n"
        "    if scope['type'] != 'http':\n"
        "        return\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'from app-dir'})\n"
    )
    server = hurtle_process("tmp_main:app", "--app-dir", str(app_dir), cwd=tmp_path)
    assert get(url_of(server) + "/").text == "from app-dir"


@pytest.mark.parametrize(
    ("app", "body"),
    [
        ("apps.cli_apps:holder.app", "Hello, world!"),
        ("apps.cli_apps:holder.nested", "found through an attribute path"),
    ],
)
def test_attribute_path(hurtle_process: StartServer, app: str, body: str) -> None:
    server = hurtle_process(app)
    assert get(url_of(server) + "/").text == body


def test_app_from_environment(hurtle_process: StartServer, tmp_path: Path) -> None:
    server = hurtle_process(env={"HURTLE_APP": "apps.cli_apps:holder.app"}, cwd=tmp_path)
    assert get(url_of(server) + "/").text == "Hello, world!"


# -- options that take effect on a running server -------------------------------


def test_default_response_headers(hurtle_process: StartServer) -> None:
    server = hurtle_process("apps.basic:app")
    response = get(url_of(server) + "/")
    assert response.headers["server"] == "hurtle"
    assert "date" in response.headers


def test_no_server_header(hurtle_process: StartServer) -> None:
    server = hurtle_process("apps.basic:app", "--no-server-header")
    response = get(url_of(server) + "/")
    assert "server" not in response.headers
    assert "date" in response.headers


def test_no_date_header(hurtle_process: StartServer) -> None:
    server = hurtle_process("apps.basic:app", "--no-date-header")
    response = get(url_of(server) + "/")
    assert "date" not in response.headers
    assert response.headers["server"] == "hurtle"


def test_repeated_header_flag(hurtle_process: StartServer) -> None:
    server = hurtle_process(
        "apps.basic:app",
        "--header",
        "X-A: 1",
        "--header",
        "X-B: two words",
        "--header",
        "Content-Type: application/x-default",
    )
    response = get(url_of(server) + "/")
    assert response.headers["x-a"] == "1"
    assert response.headers["x-b"] == "two words"
    # The app sets its own content-type: the default does not replace or repeat it.
    assert response.headers.get_list("content-type") == ["text/plain"]


def test_environment_takes_effect(hurtle_process: StartServer, tmp_path: Path) -> None:
    server = hurtle_process(
        "apps.basic:app",
        env={
            "HURTLE_HEADER": "X-From-Env: 1,X-Second: 2",
            "HURTLE_SERVER_HEADER": "false",
            "HURTLE_ROOT_PATH": "/env",
        },
        cwd=tmp_path,
    )
    response = get(url_of(server) + "/scope")
    assert response.headers["x-from-env"] == "1"
    assert response.headers["x-second"] == "2"
    assert "server" not in response.headers
    assert response.json()["root_path"] == "/env"


def test_hurtle_toml_takes_effect(hurtle_process: StartServer, tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text(
        'app = "apps.basic:app"\nheader = ["X-From-File: yes"]\ndate-header = false\n'
    )
    server = hurtle_process(cwd=tmp_path)
    response = get(url_of(server) + "/")
    assert response.text == "Hello, world!"
    assert response.headers["x-from-file"] == "yes"
    assert "date" not in response.headers


def test_pyproject_takes_effect(hurtle_process: StartServer, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.hurtle]\nroot-path = "/pyproject"\n'
    )
    server = hurtle_process("apps.basic:app", cwd=tmp_path)
    assert get(url_of(server) + "/scope").json()["root_path"] == "/pyproject"


def test_config_flag_takes_effect(hurtle_process: StartServer, tmp_path: Path) -> None:
    conf = tmp_path / "conf" / "prod.toml"
    conf.parent.mkdir()
    conf.write_text('header = ["X-Conf: prod"]\n')
    (tmp_path / "hurtle.toml").write_text('header = ["X-Conf: default"]\n')
    server = hurtle_process("apps.basic:app", "--config", str(conf), cwd=tmp_path)
    assert get(url_of(server) + "/").headers["x-conf"] == "prod"


def test_precedence_on_a_running_server(hurtle_process: StartServer, tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text(
        'header = ["X-Layer: file"]\nroot_path = "/file"\nserver_header = false\n'
    )
    env = {"HURTLE_ROOT_PATH": "/env", "HURTLE_HEADER": "X-Layer: env"}
    server = hurtle_process("apps.basic:app", "--header", "X-Layer: flag", env=env, cwd=tmp_path)
    response = get(url_of(server) + "/scope")
    assert response.headers["x-layer"] == "flag"  # flag beats environment
    assert response.json()["root_path"] == "/env"  # environment beats file
    assert "server" not in response.headers  # file beats default


def test_env_file(hurtle_process: StartServer, tmp_path: Path) -> None:
    dotenv = tmp_path / "app.env"
    dotenv.write_text(
        "CLI_TEST_GREETING=hello from dotenv\nHURTLE_HEADER=X-From-Dotenv: yes\n"
        "CLI_TEST_PRESET=from file\n"
    )
    server = hurtle_process(
        "apps.cli_apps:environ_app",
        "--env-file",
        str(dotenv),
        env={"CLI_TEST_PRESET": "from environment"},
        cwd=tmp_path,
    )
    response = get(url_of(server) + "/CLI_TEST_GREETING")
    assert response.json() == {"name": "CLI_TEST_GREETING", "value": "hello from dotenv"}
    assert response.headers["x-from-dotenv"] == "yes"
    # A variable already in the environment wins over the file.
    assert get(url_of(server) + "/CLI_TEST_PRESET").json()["value"] == "from environment"


def test_root_path(hurtle_process: StartServer) -> None:
    server = hurtle_process("apps.basic:app", "--root-path", "/api")
    # The proxy has stripped /api from the request; the scope's path puts it back
    # in front (ASGI: path includes root_path).
    scope = get(url_of(server) + "/scope", params={"q": "1"}).json()
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/scope"
    assert scope["raw_path"] == "/api/scope"
    assert scope["query_string"] == "q=1"


def test_uds(hurtle_process: StartServer, tmp_path: Path) -> None:
    path = tmp_path / "h.sock"
    server = hurtle_process("apps.basic:app", "--uds", str(path))
    assert server.url == f"unix:{path}"
    assert path.is_socket()
    transport = httpx.HTTPTransport(uds=str(path))
    with httpx.Client(transport=transport, timeout=HTTP_TIMEOUT) as client:
        assert client.get("http://hurtle.test/").text == "Hello, world!"
        scope = client.get("http://hurtle.test/scope").json()
    assert scope["type"] == "http"
    assert server.stop() == 0
    assert not path.exists()


def test_fd(tmp_path: Path, listening_socket: socket.socket) -> None:
    port = listening_socket.getsockname()[1]
    fd = listening_socket.fileno()
    log_path = tmp_path / "hurtle.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hurtle", "apps.basic:app", "--fd", str(fd)],
            pass_fds=[fd],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(tmp_path),
            env=child_env(),
        )
        try:
            # The socket already listens, so the request waits in its backlog
            # until hurtle accepts it: no polling for readiness.
            response = get(f"http://127.0.0.1:{port}/")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(RUN_TIMEOUT)
    output = log_path.read_text()
    assert response.text == "Hello, world!", output
    assert f"serving on http://127.0.0.1:{port}" in output
    assert code == 0, output
