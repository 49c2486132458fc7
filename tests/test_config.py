"""Config: defaults, parsing from strings, checks, and the layers of load_config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hurtle.config import Config, ConfigError, Option, load_config, options, options_by_name
from hurtle.launch import load_env_file


def opt(name: str) -> Option:
    return options_by_name()[name]


@pytest.fixture
def restore_environ() -> Iterator[None]:
    """For tests that let a dotenv file write into os.environ for real."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


# -- defaults ----------------------------------------------------------------


def test_defaults() -> None:
    config = Config()
    assert config.app is None
    assert config.host == "127.0.0.1"
    assert config.port == 8000
    assert config.app_dir == "."
    assert config.root_path == ""
    assert config.lifespan == "auto"
    assert config.loop == "auto"
    assert config.header == []
    assert config.server_header is True
    assert config.date_header is True
    assert config.limit_concurrency is None
    assert config.timeout_keep_alive == 5.0
    assert config.log_level == "info"
    assert config.access_log is True
    assert config.is_tls is False
    for option in options():
        assert getattr(config, option.name) == option.default, option.name


def test_list_default_is_not_shared() -> None:
    first, second = Config(), Config()
    first.header.append("X-A: 1")
    assert second.header == []
    assert opt("header").default == []


def test_option_metadata() -> None:
    port = opt("port")
    assert port.flag == "--port"
    assert port.env_var == "HURTLE_PORT"
    assert opt("limit_request_line").flag == "--limit-request-line"
    assert opt("fd").optional and opt("fd").base_type is int
    assert opt("lifespan").choices == ("auto", "on", "off")
    assert opt("header").is_list
    assert opt("access_log").is_bool
    names = [option.name for option in options()]
    assert len(names) == len(set(names))


# -- parsing strings (flags and environment variables) ----------------------


@pytest.mark.parametrize("text", ["1", "true", "True", "YES", "on", " yes "])
def test_bool_true_spellings(text: str) -> None:
    assert opt("access_log").parse(text, "src") is True


@pytest.mark.parametrize("text", ["0", "false", "FALSE", "no", "Off", " no "])
def test_bool_false_spellings(text: str) -> None:
    assert opt("access_log").parse(text, "src") is False


@pytest.mark.parametrize("text", ["", "2", "y", "maybe", "enabled"])
def test_bool_rejects(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        opt("access_log").parse(text, "HURTLE_ACCESS_LOG")
    assert info.value.source == "HURTLE_ACCESS_LOG"
    assert "boolean" in str(info.value)


def test_int_and_float() -> None:
    assert opt("port").parse(" 8001 ", "src") == 8001
    assert opt("timeout_keep_alive").parse("2.5", "src") == 2.5
    assert opt("timeout_keep_alive").parse("3", "src") == 3.0
    with pytest.raises(ConfigError, match=r"--port: expected an integer from 0 to 65535, got 'x'"):
        opt("port").parse("x", "--port")
    with pytest.raises(ConfigError, match="expected an integer"):
        opt("port").parse("80.5", "--port")
    with pytest.raises(ConfigError, match="expected a number >= 0"):
        opt("timeout_keep_alive").parse("soon", "--timeout-keep-alive")


@pytest.mark.parametrize("text", ["", "none", "None", " NONE "])
def test_optional_none(text: str) -> None:
    assert opt("fd").parse(text, "src") is None
    assert opt("limit_concurrency").parse(text, "src") is None
    assert opt("env_file").parse(text, "src") is None


def test_optional_value() -> None:
    assert opt("fd").parse("3", "src") == 3
    assert opt("env_file").parse(".env", "src") == ".env"


def test_required_string_keeps_text() -> None:
    assert opt("host").parse("::", "src") == "::"
    assert opt("root_path").parse("", "src") == ""


def test_list() -> None:
    assert opt("header").parse("X-A: 1,X-B: 2", "src") == ["X-A: 1", "X-B: 2"]
    assert opt("header").parse("X-A: 1,, ", "src") == ["X-A: 1"]
    assert opt("header").parse("", "src") == []


def test_literal_choices() -> None:
    lifespan = opt("lifespan")
    for choice in ("auto", "on", "off"):
        value = lifespan.parse(choice, "src")
        lifespan.check(value, "src")
        assert Config(lifespan=value).lifespan == choice
    with pytest.raises(ConfigError) as info:
        Config(lifespan="maybe")  # type: ignore[arg-type]
    assert info.value.source == "--lifespan"
    assert "one of 'auto', 'on', 'off'" in info.value.message
    with pytest.raises(ConfigError, match="--loop"):
        Config(loop="trio")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--log-level"):
        Config(log_level="verbose")  # type: ignore[arg-type]


def test_describe() -> None:
    assert opt("port").describe() == "an integer from 0 to 65535"
    assert opt("backlog").describe() == "an integer >= 1"
    assert opt("timeout_keep_alive").describe() == "a number >= 0"
    assert opt("header").describe() == "a list of strings"
    assert opt("host").describe() == "a string"
    assert opt("loop").describe() == "one of 'auto', 'asyncio', 'uvloop'"
    assert "boolean" in opt("date_header").describe()


# -- checks ------------------------------------------------------------------


@pytest.mark.parametrize("port", [0, 1, 8000, 65535])
def test_port_in_range(port: int) -> None:
    assert Config(port=port).port == port


@pytest.mark.parametrize("port", [-1, 65536, 70000])
def test_port_out_of_range(port: int) -> None:
    with pytest.raises(ConfigError) as info:
        Config(port=port)
    assert info.value.source == "--port"
    assert str(info.value) == f"--port: expected an integer from 0 to 65535, got {port}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("backlog", 0),
        ("fd", -1),
        ("ssl_cert_reqs", 3),
        ("limit_concurrency", 0),
        ("limit_request_line", 63),
        ("limit_request_header_size", 255),
        ("timeout_keep_alive", -0.5),
        ("timeout_graceful_shutdown", -1),
    ],
)
def test_other_ranges(name: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        Config(**{name: value})
    assert info.value.source == opt(name).flag


@pytest.mark.parametrize(
    ("name", "value"),
    [("port", "8000"), ("port", True), ("access_log", 1), ("host", None), ("header", "X-A: 1")],
)
def test_wrong_python_types(name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=opt(name).flag):
        Config(**{name: value})


def test_float_option_accepts_int() -> None:
    assert Config(timeout_keep_alive=0).timeout_keep_alive == 0


# -- headers -----------------------------------------------------------------


def test_header_parsing() -> None:
    config = Config(header=["X-A: 1", "x-b:two words ", "X-Empty:", "X-Colon: a:b"])
    assert config.parsed_headers == [
        (b"x-a", b"1"),
        (b"x-b", b"two words"),
        (b"x-empty", b""),
        (b"x-colon", b"a:b"),
    ]


@pytest.mark.parametrize(
    "item",
    [
        "X-A: 1\r\nX-Injected: 2",
        "X-A: 1\nX-Injected: 2",
        "X-A: 1\r",
        "X-A: \x00",
        "X-A: \x1b[31m",
        "X-A: euro \u20ac",
        "No-Colon",
        ": value",
        "Bad Name: 1",
        "Bad/Name: 1",
        "Bad(Name): 1",
        "Ünicode: 1",
    ],
)
def test_header_rejected(item: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(header=["X-Ok: 1", item])
    assert info.value.source == "--header"
    with pytest.raises(ConfigError, match="HURTLE_HEADER"):
        load_config({}, {"HURTLE_HEADER": item})


def test_header_value_may_contain_tab_and_latin1() -> None:
    config = Config(header=["X-A: a\tb", "X-B: caf\u00e9"])
    assert config.parsed_headers == [(b"x-a", b"a\tb"), (b"x-b", b"caf\xe9")]


# -- layers ------------------------------------------------------------------


def test_load_config_defaults(tmp_path: Path) -> None:
    config = load_config({}, {}, cwd=tmp_path)
    assert config == Config()
    assert config.config is None


def test_environment_layer(tmp_path: Path) -> None:
    environ = {
        "HURTLE_PORT": "9001",
        "HURTLE_ACCESS_LOG": "off",
        "HURTLE_LIFESPAN": "on",
        "HURTLE_TIMEOUT_KEEP_ALIVE": "1.5",
        "HURTLE_HEADER": "X-A: 1,X-B: 2",
        "HURTLE_FD": "none",
        "HURTLE_APP": "main:app",
        "UNRELATED": "x",
        "HURTLE_NOT_AN_OPTION": "ignored",
    }
    config = load_config({}, environ, cwd=tmp_path)
    assert config.port == 9001
    assert config.access_log is False
    assert config.lifespan == "on"
    assert config.timeout_keep_alive == 1.5
    assert config.header == ["X-A: 1", "X-B: 2"]
    assert config.fd is None
    assert config.app == "main:app"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HURTLE_PORT", "abc", "expected an integer from 0 to 65535, got 'abc'"),
        ("HURTLE_PORT", "70000", "expected an integer from 0 to 65535, got 70000"),
        ("HURTLE_LOOP", "nope", "expected one of 'auto', 'asyncio', 'uvloop', got 'nope'"),
        ("HURTLE_DATE_HEADER", "sometimes", "expected a boolean"),
    ],
)
def test_bad_environment_value_names_the_variable(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({}, {variable: value}, cwd=tmp_path)
    assert info.value.source == variable
    assert expected in info.value.message


def test_precedence_flag_env_file_default(tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text(
        'port = 7001\nhost = "127.0.0.2"\nroot_path = "/file"\nbacklog = 11\n'
    )
    environ = {"HURTLE_PORT": "7002", "HURTLE_HOST": "127.0.0.3"}
    flags = {"port": 7003}
    config = load_config(flags, environ, cwd=tmp_path)
    assert config.port == 7003  # flag beats environment and file
    assert config.host == "127.0.0.3"  # environment beats file
    assert config.root_path == "/file"  # file beats default
    assert config.backlog == 11
    assert config.timeout_keep_alive == 5.0  # default
    assert config.config == str(tmp_path / "hurtle.toml")


def test_flag_false_beats_environment_true(tmp_path: Path) -> None:
    config = load_config({"access_log": False}, {"HURTLE_ACCESS_LOG": "yes"}, cwd=tmp_path)
    assert config.access_log is False


def test_list_layers_replace_not_append(tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text('header = ["X-File: 1"]\n')
    assert load_config({}, {}, cwd=tmp_path).header == ["X-File: 1"]
    env = {"HURTLE_HEADER": "X-Env: 1"}
    assert load_config({}, env, cwd=tmp_path).header == ["X-Env: 1"]
    assert load_config({"header": ["X-Flag: 1"]}, env, cwd=tmp_path).header == ["X-Flag: 1"]


# -- files -------------------------------------------------------------------


def test_hurtle_toml(tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text(
        'app = "main:app"\nport = 9100\nserver_header = false\n'
        'timeout_keep_alive = 2\nheader = ["X-A: 1", "X-B: 2"]\nfd = 5\n'
        'lifespan = "off"\n'
    )
    config = load_config({}, {}, cwd=tmp_path)
    assert config.app == "main:app"
    assert config.port == 9100
    assert config.server_header is False
    assert config.timeout_keep_alive == 2.0
    assert isinstance(config.timeout_keep_alive, float)
    assert config.header == ["X-A: 1", "X-B: 2"]
    assert config.fd == 5
    assert config.lifespan == "off"


def test_pyproject_tool_hurtle(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.other]\nport = 1\n\n[tool.hurtle]\nport = 9200\n'
    )
    config = load_config({}, {}, cwd=tmp_path)
    assert config.port == 9200
    assert config.config == str(tmp_path / "pyproject.toml")


def test_pyproject_without_tool_hurtle(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_config({}, {}, cwd=tmp_path).port == 8000


def test_hurtle_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.hurtle]\nport = 9200\nbacklog = 7\n")
    (tmp_path / "hurtle.toml").write_text("port = 9300\n")
    config = load_config({}, {}, cwd=tmp_path)
    assert config.port == 9300
    assert config.backlog == 2048  # only one file is read


def test_explicit_config_file(tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text("port = 9300\n")
    other = tmp_path / "conf" / "prod.toml"
    other.parent.mkdir()
    other.write_text("port = 9400\n")
    config = load_config({"config": str(other)}, {}, cwd=tmp_path)
    assert config.port == 9400
    assert config.config == str(other)
    config = load_config({}, {"HURTLE_CONFIG": str(other)}, cwd=tmp_path)
    assert config.port == 9400


def test_explicit_pyproject_reads_tool_hurtle(tmp_path: Path) -> None:
    project = tmp_path / "elsewhere" / "pyproject.toml"
    project.parent.mkdir()
    project.write_text("[tool.hurtle]\nport = 9500\n")
    assert load_config({"config": str(project)}, {}, cwd=tmp_path).port == 9500


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"config": str(tmp_path / "nope.toml")}, {}, cwd=tmp_path)
    assert info.value.source == "--config"
    assert "does not exist" in info.value.message
    assert "nope.toml" in info.value.message
    with pytest.raises(ConfigError) as info:
        load_config({}, {"HURTLE_CONFIG": str(tmp_path / "nope.toml")}, cwd=tmp_path)
    assert info.value.source == "HURTLE_CONFIG"


def test_kebab_case_keys(tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text(
        'root-path = "/api"\naccess-log = false\nlimit-request-line = 4096\n'
        "timeout_graceful_shutdown = 3\n"
    )
    config = load_config({}, {}, cwd=tmp_path)
    assert config.root_path == "/api"
    assert config.access_log is False
    assert config.limit_request_line == 4096
    assert config.timeout_graceful_shutdown == 3.0


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "hurtle.toml"
    path.write_text("port = 9000\nworkerz = 4\n")
    with pytest.raises(ConfigError) as info:
        load_config({}, {}, cwd=tmp_path)
    assert info.value.source == f"{path}: workerz"
    assert "unknown option" in info.value.message


def test_config_key_inside_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text('config = "other.toml"\n')
    with pytest.raises(ConfigError, match="unknown option"):
        load_config({}, {}, cwd=tmp_path)


def test_unknown_key_in_tool_hurtle(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.hurtle]\nprot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_config({}, {}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('port = "abc"', "port: expected an integer from 0 to 65535, got 'abc'"),
        ("port = 70000", "port: expected an integer from 0 to 65535, got 70000"),
        ("port = true", "port: expected an integer"),
        ("access_log = 1", "access_log: expected a boolean"),
        ('loop = "trio"', "loop: expected one of 'auto', 'asyncio', 'uvloop'"),
        ("header = [1]", "header: expected a list of strings"),
        ('header = ["X-A: 1\\r\\nX-B: 2"]', "header: expected 'Name: value'"),
    ],
)
def test_bad_file_value_names_file_and_key(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "hurtle.toml"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError) as info:
        load_config({}, {}, cwd=tmp_path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_string_values_in_file_are_parsed(tmp_path: Path) -> None:
    (tmp_path / "hurtle.toml").write_text(
        'port = "9600"\naccess_log = "no"\nfd = "none"\nheader = "X-A: 1,X-B: 2"\n'
    )
    config = load_config({}, {}, cwd=tmp_path)
    assert config.header == ["X-A: 1", "X-B: 2"]  # a string is read as in the environment
    assert config.port == 9600
    assert config.access_log is False
    assert config.fd is None


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "hurtle.toml"
    path.write_text("port = = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config({}, {}, cwd=tmp_path)
    assert info.value.source == str(path)
    assert "cannot read it" in info.value.message


def test_tool_hurtle_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool]\nhurtle = "yes"\n')
    with pytest.raises(ConfigError, match="not a table"):
        load_config({}, {}, cwd=tmp_path)


# -- env_file ------------------------------------------------------------------


def test_env_file_callback_gets_the_path(tmp_path: Path) -> None:
    seen: list[str] = []
    load_config({"env_file": "from-flag.env"}, {}, cwd=tmp_path, load_env_file=seen.append)
    load_config({}, {"HURTLE_ENV_FILE": "from-env.env"}, cwd=tmp_path, load_env_file=seen.append)
    (tmp_path / "hurtle.toml").write_text('env_file = "from-file.env"\n')
    load_config({}, {}, cwd=tmp_path, load_env_file=seen.append)
    assert seen == ["from-flag.env", "from-env.env", "from-file.env"]


def test_no_env_file_no_callback(tmp_path: Path) -> None:
    seen: list[str] = []
    load_config({}, {}, cwd=tmp_path, load_env_file=seen.append)
    assert seen == []


@pytest.mark.usefixtures("restore_environ")
def test_env_file_sets_hurtle_variables(tmp_path: Path) -> None:
    for name in ("HURTLE_PORT", "HURTLE_ROOT_PATH", "HURTLE_BACKLOG", "HURTLE_TEST_APP_VALUE"):
        os.environ.pop(name, None)
    os.environ["HURTLE_BACKLOG"] = "99"  # already in the environment: wins over the file
    dotenv = tmp_path / "app.env"
    dotenv.write_text(
        "HURTLE_PORT=9700\nHURTLE_ROOT_PATH=/from-dotenv\nHURTLE_BACKLOG=5\n"
        "HURTLE_TEST_APP_VALUE=hello\n"
    )
    config = load_config({"env_file": str(dotenv)}, None, cwd=tmp_path, load_env_file=load_env_file)
    assert config.env_file == str(dotenv)
    assert config.port == 9700
    assert config.root_path == "/from-dotenv"
    assert config.backlog == 99
    assert os.environ["HURTLE_TEST_APP_VALUE"] == "hello"


@pytest.mark.usefixtures("restore_environ")
def test_env_file_value_loses_to_flag(tmp_path: Path) -> None:
    os.environ.pop("HURTLE_PORT", None)
    dotenv = tmp_path / ".env"
    dotenv.write_text("HURTLE_PORT=9700\n")
    config = load_config(
        {"env_file": str(dotenv), "port": 9800}, None, cwd=tmp_path, load_env_file=load_env_file
    )
    assert config.port == 9800


@pytest.mark.usefixtures("restore_environ")
def test_env_file_with_bad_hurtle_value(tmp_path: Path) -> None:
    os.environ.pop("HURTLE_PORT", None)
    dotenv = tmp_path / ".env"
    dotenv.write_text("HURTLE_PORT=eighty\n")
    with pytest.raises(ConfigError) as info:
        load_config({"env_file": str(dotenv)}, None, cwd=tmp_path, load_env_file=load_env_file)
    assert info.value.source == "HURTLE_PORT"


def test_missing_env_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            {"env_file": str(tmp_path / "missing.env")},
            {},
            cwd=tmp_path,
            load_env_file=load_env_file,
        )
    assert info.value.source == "--env-file"
    assert "does not exist" in info.value.message
