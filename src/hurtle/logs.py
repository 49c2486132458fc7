"""Loggers `hurtle.error` and `hurtle.access`, their formats, and escaping for log lines.

The `websockets` library logs through `websocket_library_log`, on the child
logger `hurtle.error.websocket`: never on its own `websockets.server`,
which an app that configures the root logger (`logging.basicConfig`, as
Litestar does) would otherwise print a line per WebSocket from.

Everything a client controls (path, query, header values) is escaped before
it reaches a log line: a CR or LF in a request must not forge a second line,
and an ESC must not drive the reader's terminal.

Formats (docs/logging.md): `--log-format text` writes lines for a person,
coloured on a terminal (`--use-colors`, `NO_COLOR`, `FORCE_COLOR`);
`--log-format json` writes one JSON object a line for a log collector.
`--access-log-format` is compiled once, at start-up, into a list of
getters (`AccessFormat`); the default format keeps the one `%`-style logging
call it always was, so the access log costs what it did.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import string
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_ACCESS_FORMAT",
    "TRACE",
    "AccessFormat",
    "AccessFormatError",
    "JsonFormatter",
    "TextFormatter",
    "access_log",
    "configure_logging",
    "describe_client",
    "describe_scope",
    "error_log",
    "log_access",
    "log_safe",
    "log_websocket",
    "use_colours",
    "websocket_library_log",
]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

# The logger names are part of hurtle's interface: --log-config files name
# them. `hurtle.error` carries every server event, not only errors (the name
# is gunicorn's and uvicorn's); the text format does not print it.
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


# -- colours ------------------------------------------------------------------

_RESET = "\x1b[0m"
_LEVEL_COLOURS = {
    "TRACE": "\x1b[2m",  # dim
    "DEBUG": "\x1b[36m",  # cyan
    "INFO": "\x1b[32m",  # green
    "WARNING": "\x1b[33m",  # yellow
    "ERROR": "\x1b[31m",  # red
    "CRITICAL": "\x1b[1;31m",  # bold red
}
# By status class: 1xx and 3xx cyan, 2xx green, 4xx yellow, 5xx red.
_STATUS_COLOURS = ("\x1b[36m", "\x1b[32m", "\x1b[36m", "\x1b[33m", "\x1b[31m")


def use_colours(
    wanted: bool | None, stream: Any = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether to colour lines on `stream`: --use-colors/--no-use-colors, else ask the terminal.

    Without the flag: NO_COLOR (no-color.org) turns colours off, FORCE_COLOR
    turns them on where the stream is no terminal (a CI log), and otherwise
    only a terminal gets them.
    """
    if wanted is not None:
        return wanted
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _colour_status(status: int) -> str:
    index = status // 100 - 1
    if 0 <= index < len(_STATUS_COLOURS):
        return f"{_STATUS_COLOURS[index]}{status}{_RESET}"
    return str(status)


# -- formatters ---------------------------------------------------------------


class TextFormatter(logging.Formatter):
    """hurtle's lines for a person: `time [pid] LEVEL message`, the access line without a level.

    The logger name is shown only below `hurtle.error` (`websocket: ...`):
    every server line would otherwise say `hurtle.error`, which reads as an
    error. `pid`: under a supervisor, so that each line says which process
    wrote it.
    """

    def __init__(self, *, access: bool = False, colours: bool = False, pid: bool = False) -> None:
        process = "[%(process)d] " if pid else ""
        if access:
            fmt = f"%(asctime)s {process}%(message)s"
        else:
            fmt = f"%(asctime)s {process}%(hurtle_level)s %(hurtle_source)s%(message)s"
        super().__init__(fmt)
        self._access = access
        self._colours = colours

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not self._access:
            level = f"{record.levelname:<5}"
            if self._colours:
                level = _LEVEL_COLOURS.get(record.levelname, "") + level + _RESET
            record.hurtle_level = level
            name = record.name
            if name == "hurtle.error":
                record.hurtle_source = ""
            elif name.startswith("hurtle.error."):
                record.hurtle_source = name[len("hurtle.error.") :] + ": "
            else:
                record.hurtle_source = name + ": "
        return super().formatMessage(record)


def _iso_utc(created: float) -> str:
    moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp, level, logger, message, pid, and more where known.

    An access line adds its fields (`record.access`, see AccessFormat.fields);
    an exception adds `exc_info` (the traceback text), a stack `stack_info`.
    Usable from a --log-config file: `"()": "hurtle.logs.JsonFormatter"`.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _iso_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "access", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# -- the access line ----------------------------------------------------------

DEFAULT_ACCESS_FORMAT = (
    '{client} - "{method} {target} {protocol}" {status} {bytes}B {duration_ms}ms'
)


class AccessFormatError(ValueError):
    """--access-log-format names an atom that does not exist; the message names it."""


class _Request:
    """What one access line is made from (built only for formats other than the default)."""

    __slots__ = ("duration", "headers", "scope", "size", "status")

    def __init__(
        self, scope: Mapping[str, Any], status: int, size: int, ms: float, headers: Any
    ) -> None:
        self.scope = scope
        self.status = status
        self.size = size
        self.duration = ms
        self.headers = headers  # wire/headers.py ResponseHeaders (or None)


def _target(r: _Request) -> str:
    scope = r.scope
    query = scope.get("query_string", b"")
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    return log_safe(raw + b"?" + query if query else raw)


def _request_header(name: str) -> Callable[[_Request], str]:
    wanted = name.encode("latin-1")

    def get(r: _Request) -> str:
        values = [v for n, v in r.scope.get("headers", ()) if n.lower() == wanted]
        return log_safe(b", ".join(values)) if values else "-"

    return get


def _response_header(name: str) -> Callable[[_Request], str]:
    wanted = name.encode("latin-1")

    def get(r: _Request) -> str:
        headers = r.headers
        if headers is None:
            return "-"
        if wanted == b"content-length":
            # Kept apart from the other fields: framing (wire/headers.py).
            return "-" if headers.content_length is None else str(headers.content_length)
        values = [v for n, v in headers.pairs if n == wanted]
        return log_safe(b", ".join(values)) if values else "-"

    return get


# The atoms: name -> (getter for the text line, the JSON key and its typed value).
_ATOMS: dict[str, Callable[[_Request], Any]] = {
    "client": lambda r: describe_client(r.scope.get("client")),
    "client_host": lambda r: r.scope["client"][0] if r.scope.get("client") else "-",
    "method": lambda r: r.scope["method"],
    "scheme": lambda r: r.scope["scheme"],
    "path": lambda r: log_safe(r.scope.get("raw_path") or r.scope["path"].encode("utf-8")),
    "query": lambda r: log_safe(r.scope.get("query_string", b"")),
    "target": _target,
    "protocol": lambda r: "HTTP/" + r.scope["http_version"],
    "status": lambda r: r.status,
    "bytes": lambda r: r.size,
    "duration_ms": lambda r: f"{r.duration:.1f}",
    "duration_s": lambda r: f"{r.duration / 1000.0:.6f}",
    "pid": lambda r: os.getpid(),
}
_HEADER_ATOMS = {"req": _request_header, "res": _response_header}
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


class AccessFormat:
    """--access-log-format, compiled: literal text and one getter per atom.

    `{atom}` is replaced, `{req:NAME}` and `{res:NAME}` are a request and a
    response header ("-" when absent), `{{` and `}}` are braces.
    """

    def __init__(self, template: str) -> None:
        self.template = template
        self.parts: list[str | Callable[[_Request], Any]] = []
        self.status_index: list[int] = []
        self.request_headers: list[str] = []
        self.response_headers: list[str] = []
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise AccessFormatError(f"{exc} in {template!r} (write {{{{ for a brace)") from None
        for literal, name, spec, conversion in parsed:
            if literal:
                self.parts.append(literal)
            if name is None:
                continue
            if conversion:
                raise AccessFormatError(
                    f"'!{conversion}' in {{{name}!{conversion}}} is not allowed"
                )
            if name in _HEADER_ATOMS:
                header = (spec or "").lower()
                if not header or not set(header) <= _TOKEN:
                    raise AccessFormatError(
                        f"{{{name}:...}} needs a header name, e.g. {{{name}:user-agent}}"
                    )
                (self.request_headers if name == "req" else self.response_headers).append(header)
                self.parts.append(_HEADER_ATOMS[name](header))
                continue
            if name not in _ATOMS:
                raise AccessFormatError(
                    f"unknown atom {{{name}}}; known: {', '.join(_ATOMS)}, req:NAME, res:NAME"
                )
            if spec:
                raise AccessFormatError(f"{{{name}}} takes no ':{spec}'")
            if name == "status":
                self.status_index.append(len(self.parts))
            self.parts.append(_ATOMS[name])
        self.is_default = template == DEFAULT_ACCESS_FORMAT

    def render(self, request: _Request, colours: bool = False) -> str:
        out = [part if isinstance(part, str) else str(part(request)) for part in self.parts]
        if colours:
            for index in self.status_index:
                out[index] = _colour_status(request.status)
        return "".join(out)

    def fields(self, request: _Request) -> dict[str, Any]:
        """The access fields as JSON keys: every atom, and the headers the format names."""
        scope = request.scope
        fields: dict[str, Any] = {
            "client": describe_client(scope.get("client")),
            "method": scope["method"],
            "scheme": scope["scheme"],
            "path": _ATOMS["path"](request),
            "query": _ATOMS["query"](request),
            "protocol": "HTTP/" + scope["http_version"],
            "status": request.status,
            "bytes": request.size,
            "duration_ms": round(request.duration, 3),
        }
        if self.request_headers:
            fields["request_headers"] = {
                name: _request_header(name)(request) for name in self.request_headers
            }
        if self.response_headers:
            fields["response_headers"] = {
                name: _response_header(name)(request) for name in self.response_headers
            }
        return fields


def check_access_format(template: str) -> None:
    """Raise AccessFormatError unless `template` is a valid --access-log-format."""
    AccessFormat(template)


class _AccessWriter:
    """How this process writes access lines: chosen once, by configure_logging."""

    def __init__(
        self, template: str = DEFAULT_ACCESS_FORMAT, json: bool = False, colours: bool = False
    ) -> None:
        self.format = AccessFormat(template)
        self.json = json
        self.colours = colours
        # The default line, uncoloured and not JSON: log_access's fast path.
        self.plain_default = self.format.is_default and not json and not colours

    def write(
        self, scope: Mapping[str, Any], status: int, size: int, ms: float, headers: Any
    ) -> None:
        request = _Request(scope, status, size, ms, headers)
        if self.json:
            access_log.info(
                "%s", self.format.render(request), extra={"access": self.format.fields(request)}
            )
        else:
            access_log.info("%s", self.format.render(request, self.colours))


_writer = _AccessWriter()


class LogConfigError(Exception):
    """The --log-config file could not be applied; the message is for the user."""


def apply_log_config(path: str) -> None:
    """Configure logging from a JSON, YAML or INI file (see the --log-config help)."""
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


def configure_logging(
    level: str,
    access: bool,
    log_config: str | None = None,
    *,
    log_format: str = "text",
    access_format: str = DEFAULT_ACCESS_FORMAT,
    colours: bool | None = None,
    show_pid: bool = False,
) -> None:
    """Send hurtle's loggers to stderr at `level`, or apply `log_config`; idempotent.

    `colours`: --use-colors (None: decide by the terminal, see use_colours).
    `show_pid`: text lines say which process wrote them (under a supervisor).
    With --log-config the access lines keep `access_format`, and carry their
    fields (`record.access`) for a JsonFormatter when `log_format` is json.
    """
    global _writer
    as_json = log_format == "json"
    coloured = not as_json and log_config is None and use_colours(colours)
    _writer = _AccessWriter(access_format, json=as_json, colours=coloured)
    if log_config is not None:
        apply_log_config(log_config)
        access_log.disabled = access_log.disabled or not access
        return
    numeric = _LEVELS[level]
    handler_attr = "_hurtle_handler"
    for logger in (error_log, access_log):
        logger.setLevel(numeric)
        logger.propagate = False
        formatter: logging.Formatter = (
            JsonFormatter()
            if as_json
            else TextFormatter(access=logger is access_log, colours=coloured, pid=show_pid)
        )
        ours = [h for h in logger.handlers if getattr(h, handler_attr, False)]
        if ours:
            for handler in ours:
                handler.setFormatter(formatter)
            continue
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
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
    shown = _colour_status(status) if _writer.colours else str(status)
    if _writer.json:
        path, _, query = target.partition(b"?")
        fields = {
            "client": describe_client(client),
            "method": "GET",
            "path": log_safe(path),
            "query": log_safe(query),
            "protocol": "WebSocket",
            "status": status,
        }
        access_log.info(
            '%s - "WebSocket %s" %s',
            describe_client(client),
            log_safe(target),
            shown,
            extra={"access": fields},
        )
        return
    access_log.info('%s - "WebSocket %s" %s', describe_client(client), log_safe(target), shown)


def log_access(
    scope: Mapping[str, Any], status: int, size: int, ms: float, headers: Any = None
) -> None:
    """One access line, in --access-log-format (or JSON): `size` body bytes sent, `ms` taken.

    `headers`: the response's checked headers (wire/headers.py), for `{res:NAME}`.
    """
    writer = _writer
    if writer.plain_default:
        # The default line: one lazy logging call, as before formats existed
        # (nothing is formatted when no handler prints it).
        query = scope["query_string"]
        target = scope["raw_path"] + b"?" + query if query else scope["raw_path"]
        access_log.info(
            '%s - "%s %s HTTP/%s" %d %dB %.1fms',
            describe_client(scope["client"]),
            scope["method"],
            log_safe(target),
            scope["http_version"],
            status,
            size,
            ms,
        )
        return
    writer.write(scope, status, size, ms, headers)


def format_exception_short(exc: BaseException) -> str:
    """The last frame of `exc`'s traceback: where it was raised, as `traceback` shows it."""
    frames = traceback.extract_tb(exc.__traceback__)
    return "".join(traceback.format_list(frames[-1:])).rstrip("\n")
