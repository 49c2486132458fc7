"""Loggers `hurtle.error` and `hurtle.access`, and escaping for log lines.

The `websockets` library logs through `websocket_library_log`, on the child
logger `hurtle.error.websocket`: never on its own `websockets.server`,
which an app that configures the root logger (`logging.basicConfig`, as
Litestar does) would otherwise print a line per WebSocket from.

Everything a client controls (path, query, header values) is escaped before
it reaches a log line: a CR or LF in a request must not forge a second line,
and an ESC must not drive the reader's terminal.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

__all__ = [
    "TRACE",
    "access_log",
    "configure_logging",
    "describe_client",
    "describe_scope",
    "error_log",
    "log_access",
    "log_safe",
    "log_websocket",
    "websocket_library_log",
]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

error_log = logging.getLogger("hurtle.error")
access_log = logging.getLogger("hurtle.access")


class QuieterLog(logging.LoggerAdapter[logging.Logger]):
    """A library's log one level quieter: its INFO at DEBUG, its DEBUG at TRACE.

    The `websockets` library logs "connection open" and "connection closed"
    at INFO for every WebSocket, and every frame at DEBUG. For a server
    that is one line per connection, the detail of `--log-level debug`
    (where hurtle puts its own per-connection lines), and frames are the
    detail of `--log-level trace`. WARNING and above stay as they are (the
    library logs a failure of its own parser at ERROR, with the traceback).
    The adapter's logger has no level of its own: `hurtle.error`'s, which
    `--log-level` sets, governs it, and its handler prints it.
    """

    _QUIETER = {logging.INFO: logging.DEBUG, logging.DEBUG: TRACE}

    def isEnabledFor(self, level: int) -> bool:
        # The library asks once per connection whether DEBUG is on (its
        # `debug` flag) before it formats any frame: answer for TRACE.
        return self.logger.isEnabledFor(self._QUIETER.get(level, level))

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        level = self._QUIETER.get(level, level)
        if self.logger.isEnabledFor(level):
            self.logger.log(level, msg, *args, **kwargs)


websocket_library_log = QuieterLog(logging.getLogger("hurtle.error.websocket"))

# Control characters (C0, DEL, C1) and the backslash itself become \xNN, so an
# escaped line can be read back without ambiguity.
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES[ord("\\")] = "\\\\"


def log_safe(value: bytes | str) -> str:
    """`value` with every control character escaped; bytes are read as latin-1."""
    text = value.decode("latin-1") if isinstance(value, bytes | bytearray) else value
    return text.translate(_ESCAPES)


_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}


class LogConfigError(Exception):
    """The --log-config file could not be applied; the message is for the user."""


def apply_log_config(path: str) -> None:
    """Configure logging from a JSON, YAML or INI file (see the --log-config help)."""
    import json
    import logging.config

    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as handle:
                logging.config.dictConfig(json.load(handle))
        elif path.endswith((".yaml", ".yml")):
            try:
                import yaml  # type: ignore[import-untyped,import-not-found,unused-ignore]
            except ImportError:
                raise LogConfigError(f"--log-config {path}: YAML needs PyYAML installed") from None
            with open(path, encoding="utf-8") as handle:
                logging.config.dictConfig(yaml.safe_load(handle))
        else:
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except LogConfigError:
        raise
    except Exception as exc:
        raise LogConfigError(f"--log-config {path}: {type(exc).__name__}: {exc}") from None


def configure_logging(level: str, access: bool, log_config: str | None = None) -> None:
    """Send hurtle's loggers to stderr at `level`, or apply `log_config`; idempotent."""
    if log_config is not None:
        apply_log_config(log_config)
        access_log.disabled = access_log.disabled or not access
        return
    numeric = _LEVELS[level]
    handler_attr = "_hurtle_handler"
    for logger in (error_log, access_log):
        logger.setLevel(numeric)
        logger.propagate = False
        if not any(getattr(h, handler_attr, False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s")
                if logger is error_log
                else logging.Formatter("%(asctime)s %(message)s")
            )
            setattr(handler, handler_attr, True)
            logger.addHandler(handler)
    access_log.disabled = not access


def describe_client(client: tuple[str, int] | None, unknown: str = "-") -> str:
    """`host:port` of a client for a log line; `unknown` where there is none (a Unix socket)."""
    return f"{client[0]}:{client[1]}" if client else unknown


def describe_scope(scope: Mapping[str, Any]) -> str:
    """What a log line names a cycle by: method and path, 'WebSocket /path', 'lifespan'."""
    kind = scope.get("type")
    if kind == "http":
        return f"{scope.get('method', '?')} {log_safe(str(scope.get('path', '?')))}"
    if kind == "websocket":
        return f"WebSocket {log_safe(str(scope.get('path', '?')))}"
    return str(kind)


def log_websocket(client: tuple[str, int] | None, target: bytes, status: int) -> None:
    """One access line for a WebSocket handshake: 101 when accepted, else the HTTP status."""
    access_log.info('%s - "WebSocket %s" %d', describe_client(client), log_safe(target), status)


def log_access(
    client: tuple[str, int] | None,
    method: str,
    target: bytes,
    http_version: str,
    status: int,
    size: int,
    ms: float,
) -> None:
    """One access line: client, request line, status, body bytes, duration."""
    access_log.info(
        '%s - "%s %s HTTP/%s" %d %dB %.1fms',
        describe_client(client),
        method,
        log_safe(target),
        http_version,
        status,
        size,
        ms,
    )
