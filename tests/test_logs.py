"""Log lines: the access line's fields, and escaping of client-controlled text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hurtle.logs import log_safe
from support import ServerProcess, raw_request


def test_log_safe_escapes_control_characters() -> None:
    assert log_safe("plain /path?x=1") == "plain /path?x=1"
    assert log_safe("a\r\nb") == "a\\x0d\\x0ab"
    assert log_safe(b"\x1b[31mred") == "\\x1b[31mred"
    assert log_safe(b"c1\x85\x9b") == "c1\\x85\\x9b"
    assert log_safe("back\\slash") == "back\\\\slash"  # Escapes stay unambiguous.
    assert log_safe(b"caf\xc3\xa9") == "caf\xc3\xa9"  # Printable latin-1 is kept.


def test_access_line_has_every_field(hurtle_process: Callable[..., ServerProcess]) -> None:
    server = hurtle_process("apps.basic:app")
    response = httpx.get(server.url + "/echo?x=%0d%0a1", headers={"user-agent": "t"})
    assert response.status_code == 200
    server.stop()
    lines = [line for line in server.lines if '"GET /echo' in line]
    assert len(lines) == 1, server.output
    match = re.search(
        r'127\.0\.0\.1:\d+ - "GET /echo\?x=%0d%0a1 HTTP/1\.1" 200 0B \d+\.\dms$', lines[0]
    )
    assert match, lines[0]


def test_no_access_log(hurtle_process: Callable[..., ServerProcess]) -> None:
    server = hurtle_process("apps.basic:app", "--no-access-log")
    httpx.get(server.url + "/")
    server.stop()
    assert not any('"GET / HTTP/1.1"' in line for line in server.lines)


def test_rejected_request_log_line_is_escaped(hurtle_process: Callable[..., ServerProcess]) -> None:
    server = hurtle_process("apps.basic:app")
    reply = raw_request(server.port, b"GET /\x1b[2J HTTP/1.1\r\nHost: a\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")
    server.stop()
    assert "\x1b" not in server.output
    assert any("rejected request" in line for line in server.lines)


def test_log_config_json(hurtle_process: Callable[..., ServerProcess], tmp_path: Path) -> None:
    access_file = tmp_path / "access.log"
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"bare": {"format": "ACCESS %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(access_file),
                "formatter": "bare",
            },
            "stderr": {"class": "logging.StreamHandler"},
        },
        "loggers": {
            "hurtle.access": {"handlers": ["file"], "level": "INFO", "propagate": False},
            "hurtle.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        },
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    server = hurtle_process("apps.basic:app", "--log-config", str(path))
    httpx.get(server.url + "/")
    server.stop()
    assert access_file.read_text().startswith("ACCESS 127.0.0.1:")


def test_bad_log_config_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "hurtle", "apps.basic:app", "--log-config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--log-config" in result.stderr


def test_websocket_handshake_access_line(hurtle_process: Callable[..., ServerProcess]) -> None:
    import asyncio

    from websockets.asyncio.client import connect

    server = hurtle_process("hurtle.demo.app:app", "--log-level", "debug")

    async def chat() -> None:
        async with connect(server.url.replace("http", "ws") + "/chat?room=1") as ws:
            await ws.recv()
            await ws.close(4000, "bye\r\nforged line")

    asyncio.run(asyncio.wait_for(chat(), 10))
    # Over HTTP/2 (RFC 8441) the handshake's answer is a 200.
    from h2_websocket_client import H2WebSocketClient

    client = H2WebSocketClient(server.port)
    client.open(b"/chat?room=2")
    client.close()
    server.stop()
    assert any('"WebSocket /chat?room=1" 101' in line for line in server.lines), server.output
    assert any('"WebSocket /chat?room=2" 200' in line for line in server.lines), server.output
    closed = [line for line in server.lines if "WebSocket closed: 4000" in line]
    assert closed and closed[0].endswith("bye\\x0d\\x0aforged line")
    assert not any(line.startswith("forged line") for line in server.lines)


@pytest.mark.parametrize("level", ["info", "debug", "trace"])
def test_websocket_library_log_follows_log_level(
    hurtle_process: Callable[..., ServerProcess], level: str
) -> None:
    # The app configures the root logger at INFO: the library's own logger
    # (websockets.server) would print "connection open" for every WebSocket.
    # On hurtle.error.websocket it shows from --log-level debug on, its frames
    # from trace on.
    import asyncio

    from websockets.asyncio.client import connect

    server = hurtle_process("apps.root_logging:app", "--log-level", level)

    async def echo() -> None:
        async with connect(server.url.replace("http", "ws")) as ws:
            await ws.send("marco")
            assert await ws.recv() == "marco"

    asyncio.run(asyncio.wait_for(echo(), 10))
    assert server.stop() == 0
    library_lines = [line for line in server.lines if "websockets." in line]
    assert library_lines == [], server.output
    # "connection closed" comes only if the library sees the client's EOF
    # before hurtle closes the socket: counted when there, not required.
    per_connection = [
        line for line in server.lines if line.endswith(("connection open", "connection closed"))
    ]
    frames = [line for line in server.lines if "TEXT 'marco'" in line]
    if level == "info":
        assert (per_connection, frames) == ([], []), server.output
        return
    assert sum(line.endswith("connection open") for line in per_connection) == 1, server.output
    assert all(" DEBUG websocket: " in line for line in per_connection)
    if level == "debug":
        assert frames == [], server.output
    else:
        # One frame each way: "<" received, ">" sent, both at TRACE.
        assert len(frames) == 2, server.output
        assert all(" TRACE websocket: " in line for line in frames)


# -- --access-log-format, --log-format json, colours --------------------------


def test_access_log_format_atoms(hurtle_process: Callable[..., ServerProcess]) -> None:
    template = (
        "{client_host} {method} {path} q={query} {protocol} {status} {bytes} "
        "ua={req:user-agent} ct={res:content-type} missing={req:x-nope} pid={pid} {{x}}"
    )
    server = hurtle_process("apps.basic:app", "--access-log-format", template)
    reply = raw_request(
        server.port,
        b"GET /scope?a=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: probe\x85x\r\nConnection: close\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 200 ")
    body = reply.split(b"\r\n\r\n", 1)[1]
    server.stop()
    lines = [line for line in server.lines if " GET /scope " in line]
    assert len(lines) == 1, server.output
    pid = server.proc.pid
    assert lines[0].endswith(
        f"127.0.0.1 GET /scope q=a=1 HTTP/1.1 200 {len(body)} "
        f"ua=probe\\x85x ct=application/json missing=- pid={pid} {{x}}"
    ), lines[0]


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("{client} {nope}", "unknown atom {nope}"),
        ("{req:}", "{req:...} needs a header name"),
        ("{status!r}", "'!r'"),
        ("{status", "expected '}'"),
    ],
)
def test_bad_access_log_format_is_refused_at_start(template: str, complaint: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hurtle", "apps.basic:app", "--access-log-format", template],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("hurtle: error: --access-log-format: "), result.stderr
    assert complaint in result.stderr, result.stderr


def test_head_logs_the_bytes_sent(hurtle_process: Callable[..., ServerProcess]) -> None:
    server = hurtle_process("apps.basic:app", "--access-log-format", "{method} {status} {bytes}")
    assert httpx.head(server.url + "/").status_code == 200
    assert httpx.get(server.url + "/").content == b"Hello, world!"
    assert httpx.get(server.url + "/status?304").status_code == 304
    server.stop()
    assert any(line.endswith(" HEAD 200 0") for line in server.lines), server.output
    assert any(line.endswith(" GET 200 13") for line in server.lines), server.output
    assert any(line.endswith(" GET 304 0") for line in server.lines), server.output


def test_a_file_sent_by_sendfile_logs_its_size(
    hurtle_process: Callable[..., ServerProcess],
) -> None:
    """http.response.pathsend on cleartext HTTP/1.1: the kernel sends the bytes, the log counts them."""
    server = hurtle_process("apps.basic:app", "--access-log-format", "{method} {path} {bytes}")
    size = (Path(__file__).parent / "apps" / "basic.py").stat().st_size
    assert len(httpx.get(server.url + "/pathsend").content) == size
    server.stop()
    assert any(line.endswith(f" GET /pathsend {size}") for line in server.lines), server.output


def test_json_log_lines(hurtle_process: Callable[..., ServerProcess]) -> None:
    server = hurtle_process(
        "apps.basic:app",
        "--log-format",
        "json",
        "--access-log-format",
        "{client} {method} {target} {status} {req:user-agent} {res:content-type}",
    )
    httpx.get(server.url + "/scope?x=1", headers={"user-agent": "probe"})
    httpx.get(server.url + "/error")
    server.stop()
    entries = [json.loads(line) for line in server.lines]  # every line is one object
    for entry in entries:
        assert {"timestamp", "level", "logger", "message", "pid"} <= entry.keys()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["timestamp"])
    serving = [e for e in entries if "serving on" in e["message"]]
    assert serving[0]["level"] == "info" and serving[0]["logger"] == "hurtle.error"
    access = [e for e in entries if e["logger"] == "hurtle.access"]
    assert len(access) == 2, entries
    first = access[0]
    assert first["method"] == "GET" and first["path"] == "/scope" and first["query"] == "x=1"
    assert first["protocol"] == "HTTP/1.1" and first["status"] == 200 and first["scheme"] == "http"
    assert isinstance(first["bytes"], int) and first["bytes"] > 0
    assert isinstance(first["duration_ms"], float)
    assert first["client"].startswith("127.0.0.1:")
    assert first["request_headers"] == {"user-agent": "probe"}
    assert first["response_headers"] == {"content-type": "application/json"}
    assert first["message"].endswith("GET /scope?x=1 200 probe application/json")
    assert access[1]["status"] == 500
    failure = [e for e in entries if e["level"] == "error"]
    assert failure and "RuntimeError: boom" in failure[0]["exc_info"], entries


def _status_colour_seen(lines: list[str]) -> bool:
    return any('"GET / HTTP/1.1" \x1b[32m200\x1b[0m' in line for line in lines)


def _level_colour_seen(lines: list[str]) -> bool:
    return any("\x1b[32mINFO \x1b[0m" in line for line in lines)


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        ([], {}, False),  # not a terminal
        ([], {"FORCE_COLOR": "1"}, True),
        ([], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
        (["--use-colors"], {"NO_COLOR": "1"}, True),
        (["--no-use-colors"], {"FORCE_COLOR": "1"}, False),
    ],
)
def test_colours(
    hurtle_process: Callable[..., ServerProcess],
    args: list[str],
    env: dict[str, str],
    coloured: bool,
) -> None:
    clean = {"NO_COLOR": "", "FORCE_COLOR": "", **env}
    server = hurtle_process("apps.basic:app", *args, env=clean)
    httpx.get(server.url + "/")
    server.stop()
    assert _status_colour_seen(server.lines) is coloured, server.output
    assert _level_colour_seen(server.lines) is coloured, server.output
    if not coloured:
        assert "\x1b" not in server.output


def test_text_lines_do_not_name_the_error_logger(
    hurtle_process: Callable[..., ServerProcess],
) -> None:
    server = hurtle_process("apps.basic:app")
    server.stop()
    serving = [line for line in server.lines if "serving on" in line]
    assert serving and " INFO  hurtle serving on " in serving[0], server.output
    assert "hurtle.error" not in server.output
