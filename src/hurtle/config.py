"""Every hurtle option, declared once.

Each option is a field of :class:`Config` with its type, default and help.
The command line (cli.py), the ``HURTLE_*`` environment variables, the TOML
file and docs/configuration.md are all generated from these declarations, so
an option cannot be spelled differently in two places.

Precedence when loading: flag > environment > file > foreign fallback variable
(WEB_CONCURRENCY for --workers, FORWARDED_ALLOW_IPS for --forwarded-allow-ips) > default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hurtle.logs import DEFAULT_ACCESS_FORMAT, configure_logging

__all__ = ["Config", "ConfigError", "Option", "load_config", "options", "parse_metrics_bind"]

ENV_PREFIX = "HURTLE_"

LoopName = Literal["auto", "asyncio", "uvloop"]
LifespanMode = Literal["auto", "on", "off"]
InterfaceName = Literal["auto", "asgi3", "asgi2", "wsgi"]
WebSocketMode = Literal["auto", "websockets", "none"]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
ProxyHeadersStyle = Literal["x-forwarded", "forwarded"]
LogFormat = Literal["text", "json"]


class ConfigError(ValueError):
    """A bad option value; `source` names where it came from (a flag, a variable, a file)."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


def option(
    default: Any,
    help: str,
    *,
    group: str,
    minimum: float | None = None,
    maximum: float | None = None,
    metavar: str | None = None,
    short: str | None = None,
    cli: bool = True,
    aliases: tuple[str, ...] = (),
    fallback_env: str | None = None,
    validate: Callable[[Any, str], None] | None = None,
) -> Any:
    """Declare one option: the single place where its default and help live.

    `aliases` are further flags for it (another server's spelling);
    `fallback_env` is a foreign environment variable read only when no flag,
    HURTLE_* variable or file sets the option (e.g. WEB_CONCURRENCY);
    `validate(value, source)` checks what type and range cannot, raising
    ConfigError, wherever the value came from.
    """
    meta = {
        "help": help,
        "group": group,
        "minimum": minimum,
        "maximum": maximum,
        "metavar": metavar,
        "short": short,
        "cli": cli,
        "aliases": aliases,
        "fallback_env": fallback_env,
        "validate": validate,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


# -- validators that options declare (`validate=`) -------------------------


def _check_header_option(item: str, source: str) -> None:
    name, sep, _ = item.partition(":")
    # RFC 9110 section 5.5: no control characters but HTAB in a field line,
    # and the value must fit the latin-1 bytes it is sent as.
    bad = any((c < " " and c != "\t") or "\x7f" <= c <= "\x9f" or c > "\xff" for c in item)
    if not sep or not name.strip() or bad or not name.strip().isascii():
        raise ConfigError(
            source,
            f"expected 'Name: value' in latin-1 without control characters, got {item!r}",
        )
    if any(c in name for c in ' \t()<>@,;\\"/[]?={}'):
        raise ConfigError(source, f"header name {name.strip()!r} is not a valid HTTP token")


def _check_headers(items: list[str], source: str) -> None:
    for item in items:
        _check_header_option(item, source)


def _check_access_format(template: str, source: str) -> None:
    from hurtle.logs import AccessFormat, AccessFormatError

    try:
        AccessFormat(template)
    except AccessFormatError as exc:
        raise ConfigError(source, str(exc)) from None


def _check_allow_ips(entries: list[str], source: str) -> None:
    from hurtle.wire.forwarded import TrustedPeers

    try:
        TrustedPeers(entries)
    except ValueError as exc:
        raise ConfigError(source, str(exc)) from None


def parse_metrics_bind(text: str, source: str = "--metrics-bind") -> tuple[str, int]:
    """'HOST:PORT' (an IPv6 host in brackets, '[::1]:9100') as (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(source, f"expected HOST:PORT such as 127.0.0.1:9100, got {text!r}")
    return host, int(port)


def _check_metrics_bind(value: str | None, source: str) -> None:
    if value is not None:
        parse_metrics_bind(value, source)


@dataclass(kw_only=True)
class Config:
    """The configuration of one hurtle server. Build it with keyword arguments."""

    # -- application -------------------------------------------------------
    app: str | None = option(
        None,
        "The ASGI app as 'module:attribute' (attribute paths like 'pkg.mod:obj.app' work "
        "too). Without it, hurtle serves its built-in demo app.",
        group="application",
        metavar="APP",
    )
    factory: bool = option(
        False,
        "Treat APP as a factory: call it with no arguments to get the ASGI app.",
        group="application",
    )
    app_dir: str = option(
        ".",
        "Look for APP in this directory (it is put first on sys.path).",
        group="application",
        metavar="DIR",
    )
    root_path: str = option(
        "",
        "The ASGI root_path: where the app is mounted below a proxy (e.g. '/api').",
        group="application",
        metavar="PATH",
    )
    lifespan: LifespanMode = option(
        "auto",
        "ASGI lifespan protocol: 'on' requires the app to support it, 'auto' tolerates an "
        "app that does not, 'off' never sends lifespan events.",
        group="application",
    )
    env_file: str | None = option(
        None,
        "Load environment variables from this dotenv file before the app is imported.",
        group="application",
        metavar="FILE",
    )
    interface: InterfaceName = option(
        "auto",
        "The app's interface: 'asgi3'; 'asgi2' (app(scope) returns a callable taking "
        "(receive, send)); 'wsgi' (PEP 3333: app(environ, start_response), run on a pool of "
        "threads); 'auto' tells them apart by how the app is called.",
        group="application",
    )
    wsgi_threads: int = option(
        32,
        "Threads that run a WSGI app: at most this many WSGI requests run at once, the "
        "others wait for a free thread. Each thread may hold a database connection.",
        group="application",
        minimum=1,
        maximum=4096,
    )

    # -- sockets -----------------------------------------------------------
    host: str = option(
        "127.0.0.1",
        "Bind to this address. Use '0.0.0.0' or '::' to listen on every interface.",
        group="socket",
        metavar="ADDRESS",
    )
    port: int = option(
        8000,
        "Bind to this TCP port; 0 picks a free port (the bound address is always logged).",
        group="socket",
        minimum=0,
        maximum=65535,
        metavar="PORT",
    )
    uds: str | None = option(
        None, "Bind to this Unix domain socket instead of TCP.", group="socket", metavar="PATH"
    )
    fd: int | None = option(
        None,
        "Serve on this already-open listening socket file descriptor.",
        group="socket",
        minimum=0,
        metavar="FD",
    )
    backlog: int = option(
        2048,
        "Maximum number of connections waiting to be accepted.",
        group="socket",
        minimum=1,
    )
    reuse_port: bool = option(
        False,
        "With --workers: each worker binds its own socket with SO_REUSEPORT and the kernel "
        "spreads connections over them, instead of all workers sharing one socket (TCP only).",
        group="socket",
    )
    loop: LoopName = option(
        "auto",
        "Event loop: 'auto' uses uvloop when it is installed, else asyncio.",
        group="socket",
    )

    # -- TLS ---------------------------------------------------------------
    ssl_keyfile: str | None = option(
        None, "TLS private key file (PEM).", group="tls", metavar="FILE"
    )
    ssl_certfile: str | None = option(
        None, "TLS certificate chain file (PEM). Turns TLS on.", group="tls", metavar="FILE"
    )
    ssl_keyfile_password: str | None = option(
        None, "Password of an encrypted TLS private key.", group="tls", metavar="PASSWORD"
    )
    ssl_ca_certs: str | None = option(
        None,
        "CA certificates (PEM) to verify client certificates with.",
        group="tls",
        metavar="FILE",
    )
    ssl_cert_reqs: int = option(
        0,
        "Client certificates: 0 = not asked for, 1 = optional, 2 = required "
        "(ssl.CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED).",
        group="tls",
        minimum=0,
        maximum=2,
    )
    ssl_ciphers: str | None = option(
        None,
        "OpenSSL cipher list for TLS 1.2 and older (default: Python's secure default).",
        group="tls",
        metavar="CIPHERS",
    )

    # -- HTTP --------------------------------------------------------------
    header: list[str] = option(
        [],
        "A default response header 'Name: value', added to every response unless the app "
        "sets the same header. Repeat the flag for several headers.",
        group="http",
        metavar="NAME:VALUE",
        validate=_check_headers,
    )
    server_header: bool = option(True, "Send 'server: hurtle' in responses.", group="http")
    date_header: bool = option(True, "Send the Date header in responses.", group="http")
    limit_concurrency: int | None = option(
        None,
        "Answer 503 (with Retry-After) to new requests while this many requests are in "
        "progress or this many connections are open.",
        group="http",
        minimum=1,
    )
    limit_request_line: int = option(
        8192,
        "Longest request line (method, target and version) in bytes; longer gets 414.",
        group="http",
        minimum=64,
    )
    limit_request_headers: int = option(
        100,
        "Most header fields in one request; more gets 431.",
        group="http",
        minimum=1,
    )
    limit_request_header_size: int = option(
        16384,
        "Most bytes of header fields (names and values) in one request; more gets 431.",
        group="http",
        minimum=256,
    )
    limit_request_body: int | None = option(
        None,
        "Largest request body in bytes; larger gets 413, refused from its Content-Length "
        "or, for a chunked body, as soon as it crosses the limit ('none': no limit).",
        group="http",
        minimum=0,
        metavar="BYTES",
    )
    limit_requests_per_connection: int | None = option(
        10000,
        "Close a keep-alive connection after this many requests ('none': no limit).",
        group="http",
        minimum=1,
    )

    # -- HTTP/2 -------------------------------------------------------------
    http2: bool = option(
        True,
        "Serve HTTP/2 too: negotiated with ALPN on TLS, and on cleartext with the "
        "prior-knowledge preface or an 'Upgrade: h2c' request (docs/http2.md).",
        group="http2",
    )
    h2_max_concurrent_streams: int = option(
        100,
        "HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: requests one connection may have open at once.",
        group="http2",
        minimum=1,
        maximum=2**31 - 1,
    )
    h2_initial_window_size: int = option(
        65535,
        "HTTP/2 SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a client may send on a "
        "stream before its app reads them (the connection's window is four times this).",
        group="http2",
        minimum=1,
        maximum=2**31 - 1,
        metavar="BYTES",
    )
    h2_max_frame_size: int = option(
        16384,
        "HTTP/2 SETTINGS_MAX_FRAME_SIZE: the largest frame payload hurtle accepts.",
        group="http2",
        minimum=16384,
        maximum=2**24 - 1,
        metavar="BYTES",
    )

    # -- WebSocket ---------------------------------------------------------
    ws: WebSocketMode = option(
        "auto",
        "WebSocket support: 'auto' and 'websockets' use the websockets library's sans-I/O "
        "core; 'none' passes upgrade requests to the app as plain HTTP.",
        group="websocket",
    )
    ws_max_size: int = option(
        16 * 1024 * 1024,
        "Largest incoming WebSocket message in bytes, after decompression; larger closes "
        "the connection with 1009.",
        group="websocket",
        minimum=1,
        metavar="BYTES",
    )
    ws_max_queue: int = option(
        32,
        "Most received WebSocket messages waiting for the app; at this many, reading pauses.",
        group="websocket",
        minimum=1,
    )
    ws_ping_interval: float | None = option(
        20.0,
        "Send a WebSocket ping every this many seconds ('none' or 0: never).",
        group="websocket",
        minimum=0,
        metavar="SECONDS",
    )
    ws_ping_timeout: float | None = option(
        20.0,
        "Close a WebSocket (1011) whose peer has not answered a ping within this many seconds "
        "('none' or 0: wait forever).",
        group="websocket",
        minimum=0,
        metavar="SECONDS",
    )
    ws_per_message_deflate: bool = option(
        True,
        "Offer permessage-deflate compression (RFC 7692) to WebSocket clients.",
        group="websocket",
    )

    # -- timeouts ----------------------------------------------------------
    timeout_keep_alive: float = option(
        5.0,
        "Close a keep-alive connection after this many seconds without a new request.",
        group="timeouts",
        minimum=0,
        metavar="SECONDS",
    )
    timeout_request_header: float = option(
        10.0,
        "A request whose headers are not complete this many seconds after their first byte "
        "gets 408 and the connection is closed (slowloris). The clock starts again for "
        "each request on a keep-alive connection.",
        group="timeouts",
        minimum=0.001,
        metavar="SECONDS",
    )
    timeout_request_body: float = option(
        30.0,
        "Close a connection whose request body stalls: no byte for this many seconds while "
        "the app waits for more. The app gets http.disconnect.",
        group="timeouts",
        minimum=0.001,
        metavar="SECONDS",
    )
    timeout_write: float = option(
        30.0,
        "Close a connection whose client stops reading the response: the write buffer stays "
        "full this many seconds. The app's send raises ClientDisconnected (an OSError).",
        group="timeouts",
        minimum=0.001,
        metavar="SECONDS",
    )
    timeout_graceful_shutdown: float = option(
        30.0,
        "On shutdown, give in-flight requests this many seconds to finish before they are "
        "cancelled.",
        group="timeouts",
        minimum=0,
        metavar="SECONDS",
    )

    # -- processes ---------------------------------------------------------
    workers: int = option(
        1,
        "Number of worker processes. 1 serves from this one process; 2 or more start a "
        "supervisor that shares the listening sockets with the workers, replaces a worker "
        "that dies or hangs, and restarts them one at a time on SIGHUP.",
        group="processes",
        minimum=1,
        metavar="N",
        fallback_env="WEB_CONCURRENCY",
    )
    reload: bool = option(
        False,
        "Development: restart the workers when a watched file changes. Works with "
        "--workers; an import or syntax error is printed and the next change retries.",
        group="processes",
    )
    reload_dir: list[str] = option(
        [],
        "A directory to watch with --reload (default: the current directory). Repeat the "
        "flag for several directories.",
        group="processes",
        metavar="DIR",
    )
    reload_include: list[str] = option(
        ["*.py"],
        "With --reload, restart only for files matching one of these globs (a glob with '/' "
        "is matched against the end of the path). Repeat the flag for several globs; giving "
        "it replaces the default.",
        group="processes",
        metavar="GLOB",
    )
    reload_exclude: list[str] = option(
        [".*", "*~"],
        "With --reload, ignore files matching one of these globs, and everything below a "
        "directory that matches (Python caches, version control and node_modules are always "
        "ignored). Repeat the flag for several globs; giving it replaces the default.",
        group="processes",
        metavar="GLOB",
    )
    max_requests: int | None = option(
        None,
        "Replace a worker gracefully after it has served this many requests (a new worker "
        "starts first). Starts the supervisor even with one worker.",
        group="processes",
        minimum=1,
        metavar="N",
        aliases=("--limit-max-requests",),
    )
    max_requests_jitter: int = option(
        0,
        "Add a random 0..N to --max-requests for each worker, so that workers are not all "
        "replaced at the same time.",
        group="processes",
        minimum=0,
        metavar="N",
        aliases=("--limit-max-requests-jitter",),
    )
    timeout_worker_healthcheck: float = option(
        30.0,
        "A worker whose event loop does not answer the supervisor's heartbeat for this many "
        "seconds has its Python stack dumped to the log and is killed and replaced; 0 turns "
        "the check off.",
        group="processes",
        minimum=0,
        metavar="SECONDS",
    )
    timeout_worker_startup: float = option(
        60.0,
        "A worker that is not serving this many seconds after it started (import and "
        "lifespan startup) has its stack dumped and is killed; it counts as a start-up failure.",
        group="processes",
        minimum=1,
        metavar="SECONDS",
    )
    malloc_trim_threshold: int = option(
        32 * 1024 * 1024,
        "On glibc: freed memory at the top of a worker's heap is returned to the kernel only "
        "above this many bytes, so a burst of large bodies does not page-fault its memory back "
        "in on every turn of the event loop (up to this much freed memory may stay resident). "
        "0 leaves glibc's own behaviour.",
        group="processes",
        minimum=0,
        maximum=2**30,
        metavar="BYTES",
    )
    pid: str | None = option(
        None,
        "Write the process id of the server (the supervisor when there is one) to this file, "
        "and remove it on exit.",
        group="processes",
        metavar="FILE",
    )

    # -- proxies (docs/security.md, "Proxies") --------------------------------
    proxy_headers: bool = option(
        True,
        "Believe what a trusted proxy (see --forwarded-allow-ips) says in its headers about "
        "the client's address and scheme: X-Forwarded-For and X-Forwarded-Proto, or Forwarded "
        "with --proxy-headers-style forwarded. Other peers' proxy headers are ignored.",
        group="proxy",
    )
    forwarded_allow_ips: list[str] = option(
        ["127.0.0.1"],
        "The peers trusted as proxies, for --proxy-headers and --proxy-protocol: IP addresses "
        "and networks (CIDR, e.g. 10.0.0.0/8), 'unix' for peers on a Unix socket, '*' for "
        "every peer. Comma-separated, or the flag repeated.",
        group="proxy",
        metavar="ADDRESSES",
        fallback_env="FORWARDED_ALLOW_IPS",
        validate=_check_allow_ips,
    )
    proxy_headers_style: ProxyHeadersStyle = option(
        "x-forwarded",
        "The headers your proxy sets, and the only ones read: 'x-forwarded' "
        "(X-Forwarded-For, -Proto, -Host) or 'forwarded' (RFC 7239). Never both: a proxy that "
        "sets one kind usually passes the other on from the client unchanged.",
        group="proxy",
    )
    forwarded_host: bool = option(
        False,
        "With --proxy-headers, also take the request's host from a trusted proxy's "
        "X-Forwarded-Host (or Forwarded host=): the app sees it as the Host header. Only for "
        "a proxy that sets or removes that header: one that passes the client's own on "
        "lets the client choose the host the app builds links with.",
        group="proxy",
    )
    proxy_protocol: bool = option(
        False,
        "Every connection must start with a PROXY protocol header (version 1 or 2, as sent "
        "by HAProxy's send-proxy or a cloud load balancer); the client's and server's "
        "addresses are taken from it. Connections from peers not in --forwarded-allow-ips, "
        "and malformed headers, are closed. Cannot be combined with TLS.",
        group="proxy",
    )

    # -- metrics -----------------------------------------------------------
    metrics_bind: str | None = option(
        None,
        "Serve Prometheus metrics on HOST:PORT, a socket of their own (any path answers; "
        "/metrics by convention). With --workers, the supervisor serves the whole server's. "
        "Needs the prometheus-client package: pip install 'hurtle[metrics]'. See docs/metrics.md.",
        group="metrics",
        metavar="HOST:PORT",
        validate=_check_metrics_bind,
    )

    # -- logging -----------------------------------------------------------
    log_level: LogLevel = option("info", "Log level of hurtle's loggers.", group="logging")
    access_log: bool = option(
        True, "Log one line per request on the 'hurtle.access' logger.", group="logging"
    )
    access_log_format: str = option(
        DEFAULT_ACCESS_FORMAT,
        "The access line: text with atoms in braces, {client} {method} {path} {query} "
        "{target} {protocol} {status} {bytes} {duration_ms} {pid} and more, "
        "{req:NAME} and {res:NAME} for a request or response header (docs/logging.md).",
        group="logging",
        metavar="FORMAT",
        validate=_check_access_format,
    )
    log_format: LogFormat = option(
        "text",
        "'text': lines for a person; 'json': one JSON object a line (timestamp, level, "
        "logger, message, and an access line's fields as keys) for a log collector.",
        group="logging",
    )
    use_colors: bool | None = option(
        None,
        "Colour levels and status codes in text logs. Default: only on a terminal, never "
        "when NO_COLOR is set, also off a terminal when FORCE_COLOR is set.",
        group="logging",
    )
    log_config: str | None = option(
        None,
        "Configure logging from this file instead: .json (logging.config.dictConfig), "
        ".yaml/.yml (dictConfig, needs PyYAML) or .ini/.conf (logging.config.fileConfig). "
        "It replaces hurtle's own handlers, formats and levels.",
        group="logging",
        metavar="FILE",
    )

    # -- debugging (for app authors) -----------------------------------------
    asgi_strict: bool = option(
        False,
        "Check every message the app sends, and every call of receive and send, against the "
        "ASGI spec (field types, lower-case header names, order, close codes, advertised "
        "extensions). A violation is logged once, naming the rule, the spec's section and "
        "the app's line, and raised into the app. For development and tests: off, it costs "
        "nothing (docs/debugging.md).",
        group="debugging",
    )
    blocking_warn_after: float | None = option(
        0.5,
        "Warn (on hurtle.error) when one step of a task or one callback holds the event loop "
        "longer than this many seconds, naming the request and giving the blocking code's "
        "stack, taken while it blocks; at most one warning per 10 s per process "
        "('none' or 0: off; docs/debugging.md).",
        group="debugging",
        minimum=0,
        metavar="SECONDS",
    )

    # -- meta --------------------------------------------------------------
    config: str | None = option(
        None,
        "Read options from this TOML file (default: ./hurtle.toml, else [tool.hurtle] in "
        "./pyproject.toml).",
        group="meta",
        metavar="FILE",
    )

    def __post_init__(self) -> None:
        for opt in options():
            opt.check(getattr(self, opt.name), opt.flag)
        if self.proxy_protocol and self.is_tls:
            # The PROXY header comes before the TLS handshake, which asyncio's
            # TLS transport starts before any byte reaches hurtle.
            raise ConfigError(
                "--proxy-protocol",
                "cannot be combined with TLS (--ssl-certfile): terminate TLS at the proxy",
            )

    @property
    def is_tls(self) -> bool:
        return self.ssl_certfile is not None

    @property
    def parsed_headers(self) -> list[tuple[bytes, bytes]]:
        """The --header values as (lower-case name, value) byte pairs."""
        return [_split_header(item) for item in self.header]

    def configure_logging(self, show_pid: bool) -> None:
        """Set up hurtle's loggers as the logging options say (raises LogConfigError).

        One place for the single process (launch.py) and each worker
        (supervise/worker.py); `show_pid` tags access lines with the worker.
        """
        configure_logging(
            self.log_level,
            self.access_log,
            self.log_config,
            log_format=self.log_format,
            access_format=self.access_log_format,
            colours=self.use_colors,
            show_pid=show_pid,
        )


def _split_header(item: str) -> tuple[bytes, bytes]:
    name, _, value = item.partition(":")
    return name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")


# --------------------------------------------------------------------------
# Option metadata, derived from the dataclass fields.


@dataclass(frozen=True)
class Option:
    """What every consumer (CLI, environment, TOML, docs) knows of one option."""

    name: str
    type: Any
    default: Any
    help: str
    group: str
    minimum: float | None
    maximum: float | None
    metavar: str | None
    short: str | None
    cli: bool
    aliases: tuple[str, ...] = ()
    fallback_env: str | None = None
    validate: Callable[[Any, str], None] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def base_type(self) -> Any:
        """The type without `| None`."""
        args = [a for a in typing.get_args(self.type) if a is not type(None)]
        if isinstance(self.type, types.UnionType) and len(args) == 1:
            return args[0]
        return self.type

    @property
    def optional(self) -> bool:
        return type(None) in typing.get_args(self.type)

    @property
    def choices(self) -> tuple[str, ...] | None:
        base = self.base_type
        if typing.get_origin(base) is Literal:
            return tuple(typing.get_args(base))
        return None

    @property
    def is_bool(self) -> bool:
        return self.base_type is bool

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.base_type) is list

    def describe(self) -> str:
        """What the option accepts, for error messages and the docs."""
        base = self.base_type
        if self.choices:
            accepted = "one of " + ", ".join(repr(c) for c in self.choices)
        elif base is bool:
            accepted = "a boolean (true/false, 1/0, yes/no, on/off)"
        elif base is int:
            accepted = "an integer" + self._range()
        elif base is float:
            accepted = "a number" + self._range()
        elif self.is_list:
            accepted = "a list of strings"
        else:
            accepted = "a string"
        return accepted

    def _range(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f" from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f" >= {_num(self.minimum)}"
        return ""

    def parse(self, text: str, source: str) -> Any:
        """Convert a string (flag, environment variable) into this option's type."""
        base = self.base_type
        if self.optional and text.strip().lower() in ("", "none"):
            return None
        try:
            if base is bool:
                return _parse_bool(text)
            if base is int:
                return int(text.strip())
            if base is float:
                return float(text.strip())
        except ValueError:
            raise ConfigError(source, f"expected {self.describe()}, got {text!r}") from None
        if self.is_list:
            return [part for part in text.split(",") if part.strip()]
        return text

    def coerce(self, value: Any, source: str) -> Any:
        """Accept a value from TOML or keyword arguments, converting lossless cases."""
        if isinstance(value, str) and self.base_type is not str and not self.choices:
            return self.parse(value, source)
        if self.base_type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if self.is_list and isinstance(value, tuple):
            return list(value)
        return value

    def check(self, value: Any, source: str) -> None:
        """Raise ConfigError unless `value` is acceptable for this option."""
        if value is None:
            if self.optional:
                return
            raise ConfigError(source, f"expected {self.describe()}, got None")
        base = self.base_type
        ok: bool
        if self.choices:
            ok = value in self.choices
        elif base is bool:
            ok = isinstance(value, bool)
        elif base is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif base is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif self.is_list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            ok = isinstance(value, str)
        if ok and base in (int, float):
            ok = (self.minimum is None or value >= self.minimum) and (
                self.maximum is None or value <= self.maximum
            )
        if not ok:
            raise ConfigError(source, f"expected {self.describe()}, got {value!r}")
        if self.validate is not None:
            self.validate(value, source)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


_OPTIONS: tuple[Option, ...] | None = None


def options() -> tuple[Option, ...]:
    """All options, in declaration order."""
    global _OPTIONS
    if _OPTIONS is None:
        hints = typing.get_type_hints(Config)
        result = []
        for f in dataclasses.fields(Config):
            default = f.default_factory() if callable(f.default_factory) else f.default
            result.append(
                Option(
                    name=f.name,
                    type=hints[f.name],
                    default=default,
                    help=f.metadata["help"],
                    group=f.metadata["group"],
                    minimum=f.metadata["minimum"],
                    maximum=f.metadata["maximum"],
                    metavar=f.metadata["metavar"],
                    short=f.metadata["short"],
                    cli=f.metadata["cli"],
                    aliases=f.metadata["aliases"],
                    fallback_env=f.metadata["fallback_env"],
                    validate=f.metadata["validate"],
                )
            )
        _OPTIONS = tuple(result)
    return _OPTIONS


def options_by_name() -> dict[str, Option]:
    return {opt.name: opt for opt in options()}


# --------------------------------------------------------------------------
# Loading: defaults < fallback variables < file < environment < flags (or keyword
# arguments).


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The options set through HURTLE_* variables."""
    values: dict[str, Any] = {}
    for opt in options():
        if opt.env_var in environ:
            value = opt.parse(environ[opt.env_var], opt.env_var)
            # Checked here so that an error names the variable, not the flag.
            opt.check(value, opt.env_var)
            values[opt.name] = value
    return values


def from_fallback_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Options set through foreign variables (WEB_CONCURRENCY): the layer above defaults."""
    values: dict[str, Any] = {}
    for opt in options():
        name = opt.fallback_env
        if name is not None and environ.get(name, "").strip():
            value = opt.parse(environ[name], name)
            opt.check(value, name)
            values[opt.name] = value
    return values


def find_config_file(
    explicit: str | None, cwd: Path | None = None, source: str = "--config"
) -> tuple[Path, str] | None:
    """The TOML file to read and the table path inside it ('' for the top level).

    `source` names where `explicit` came from, for the error if it is missing.
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(source, f"file {explicit!r} does not exist")
        return path, "tool.hurtle" if path.name == "pyproject.toml" else ""
    base = cwd or Path.cwd()
    if (base / "hurtle.toml").is_file():
        return base / "hurtle.toml", ""
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        return pyproject, "tool.hurtle"
    return None


def from_file(path: Path, table: str) -> dict[str, Any]:
    """The options set in a TOML file (keys in snake_case or kebab-case)."""
    try:
        with path.open("rb") as handle:
            data: Any = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read it: {exc}") from None
    for part in filter(None, table.split(".")):
        data = data.get(part, {}) if isinstance(data, dict) else {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), f"[{table}] is not a table")
    known = options_by_name()
    values: dict[str, Any] = {}
    for key, raw in data.items():
        name = key.replace("-", "_")
        if name not in known or name == "config":
            raise ConfigError(f"{path}: {key}", "unknown option")
        source = f"{path}: {key}"
        opt = known[name]
        value = opt.coerce(raw, source)
        opt.check(value, source)
        values[name] = value
    return values


def merge(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def load_config(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    load_env_file: Callable[[str], None] | None = None,
) -> Config:
    """Combine the layers: flags > environment > file > fallback variables > defaults.

    `load_env_file` is called with --env-file (from whichever layer set it)
    before the environment layer is read, so the dotenv file can set
    HURTLE_* variables as well as the app's own.
    """
    flags = dict(flags or {})
    env = os.environ if environ is None else environ
    config_path = flags.get("config") or env.get(ENV_PREFIX + "CONFIG") or None
    config_source = "--config" if flags.get("config") else ENV_PREFIX + "CONFIG"
    found = find_config_file(config_path, cwd, config_source)
    file_values = from_file(*found) if found else {}
    env_file = (
        flags.get("env_file") or env.get(ENV_PREFIX + "ENV_FILE") or file_values.get("env_file")
    )
    if env_file and load_env_file is not None:
        load_env_file(env_file)
    env_values = from_environment(env)
    values = merge([from_fallback_environment(env), file_values, env_values, flags])
    if found:
        values.setdefault("config", str(found[0]))
    return Config(**values)
