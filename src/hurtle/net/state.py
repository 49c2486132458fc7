"""What every connection of one server shares: config, app, counters, default headers."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Coroutine
from email.utils import formatdate
from time import perf_counter
from typing import Any, Protocol

from hurtle.asgi.http import service_unavailable
from hurtle.asgi.http_core import HTTPCycleCore
from hurtle.asgi.proxy_headers import ProxySettings
from hurtle.asgi.types import ASGIApp
from hurtle.config import Config
from hurtle.logs import access_log
from hurtle.net.metrics import ServerMetrics
from hurtle.wire.h1 import H1Limits
from hurtle.wire.h2_events import H2Settings


class Connection(Protocol):
    """What the server asks of every open connection, whatever its protocol."""

    def shutdown(self) -> None:
        """Close gracefully: now if idle, else when the work in progress is done."""

    def abort(self) -> None:
        """Drop the connection now."""


class Flushable(Protocol):
    def flush(self) -> None:
        """Write out what was queued during this turn of the loop."""


__all__ = ["ServerState"]


class ServerState:
    """Shared, mutable state of one serving process.

    The default header block (server, date, --header) is rebuilt once a
    second by `tick()`, never per request.
    """

    def __init__(self, config: Config, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.app = app
        self.loop = loop
        self.root_path = config.root_path
        self.lifespan_state: dict[str, Any] = {}
        # The context every app task starts from, a copy each (asyncio would
        # copy the current one, and a pipelined request is started from inside
        # the task of the request before it: its context variables would leak).
        self.app_context = contextvars.copy_context()
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.active_requests = 0
        self.total_requests = 0
        self.shutting_down = False
        self.limit_concurrency = config.limit_concurrency
        self.keep_alive_timeout = config.timeout_keep_alive
        self.ws_enabled = config.ws != "none"
        # --proxy-headers / --proxy-protocol (asgi/proxy_headers.py); None when both are off.
        self.proxy = ProxySettings.from_config(config)
        self.limits = H1Limits(
            config.limit_request_line,
            config.limit_request_headers,
            config.limit_request_header_size,
            config.limit_request_body,
        )
        # HTTP/2: what hurtle announces, and the HTTP/1.1 limits in their
        # HTTP/2 meaning (the header block's size is MAX_HEADER_LIST_SIZE).
        self.h2_enabled = config.http2
        self.h2_settings = H2Settings(
            max_concurrent_streams=config.h2_max_concurrent_streams,
            initial_window_size=config.h2_initial_window_size,
            max_frame_size=config.h2_max_frame_size,
            # RFC 9113 section 6.5.2 counts 32 bytes more per field than names and values.
            max_header_list_size=config.limit_request_header_size
            + 32 * config.limit_request_headers,
            max_headers=config.limit_request_headers,
            max_body=config.limit_request_body,
        )
        self.access_log_enabled = config.access_log and access_log.isEnabledFor(20)
        # --metrics-bind: the counters (net/metrics.py); None when off, and then
        # each place that counts costs one `is not None`.
        self.metrics: ServerMetrics | None = (
            ServerMetrics() if config.metrics_bind is not None else None
        )
        # Whether requests are timed (for the access log or the duration histogram).
        self.timed = self.access_log_enabled or self.metrics is not None
        # (lower-case name, line) of each default header, in the order sent.
        self._static_defaults: list[tuple[bytes, bytes]] = []
        if config.server_header:
            self._static_defaults.append((b"server", b"server: hurtle\r\n"))
        for name, value in config.parsed_headers:
            self._static_defaults.append((name, b"%s: %s\r\n" % (name, value)))
        self.default_names = frozenset(name for name, _ in self._static_defaults)
        if config.date_header:
            self.default_names |= {b"date"}
        self.default_block = b""
        self._date_line = b""
        self._date_value = b""
        # Connections with output queued in this turn of the loop (flush_soon).
        self._unflushed: list[Flushable] = []
        self._timer: asyncio.TimerHandle | None = None
        self.tick()

    def tick(self) -> None:
        """Rebuild the Date header (RFC 9110 section 6.6.1: one-second resolution)."""
        if self.config.date_header:
            self._date_value = formatdate(usegmt=True).encode("ascii")
            self._date_line = b"date: %s\r\n" % self._date_value
        self.default_block = self._build_defaults(frozenset())
        self._timer = self.loop.call_later(1.0, self.tick)

    def stop_ticking(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def defaults_without(self, names: frozenset[bytes] | set[bytes]) -> bytes:
        """The default header block minus headers the app set itself."""
        if self.default_names.isdisjoint(names):
            return self.default_block
        return self._build_defaults(names)

    def _build_defaults(self, skip: frozenset[bytes] | set[bytes]) -> bytes:
        lines = [line for name, line in self._static_defaults if name not in skip]
        if self._date_line and b"date" not in skip:
            lines.insert(
                1 if self.config.server_header and b"server" not in skip else 0, self._date_line
            )
        return b"".join(lines)

    def default_fields(self, skip: frozenset[bytes]) -> list[tuple[bytes, bytes]]:
        """The default headers as (name, value) pairs for HTTP/2, minus those in `skip`."""
        fields = [
            (name, line[len(name) + 2 : -2])
            for name, line in self._static_defaults
            if name not in skip
        ]
        if self._date_value and b"date" not in skip:
            fields.insert(
                1 if self.config.server_header and b"server" not in skip else 0,
                (b"date", self._date_value),
            )
        return fields

    def running_tasks(self) -> set[asyncio.Task[None]]:
        """The app tasks still running (a task cancelled before its first step never
        reaches the code that removes it, so done ones are pruned here)."""
        self.tasks.difference_update([task for task in self.tasks if task.done()])
        return self.tasks

    def flush_soon(self, connection: Flushable) -> None:
        """Call `connection.flush()` once the callbacks of this turn of the loop have run.

        Why: on loopback and in VMs the costly part of a small response is not
        the write() but waking the client that sleeps on the other end of the
        socket. Responses written one by one, each right after its request was
        read, wake the client once each; the same responses written in a burst
        at the end of the turn find it awake after the first. One call_soon per
        turn serves every connection that has output.
        """
        if not self._unflushed:
            self.loop.call_soon(self._flush_all)
        self._unflushed.append(connection)

    def _flush_all(self) -> None:
        connections, self._unflushed = self._unflushed, []
        for connection in connections:
            connection.flush()

    # -- the requests of every connection -------------------------------------

    def app_for_request(self) -> ASGIApp:
        """Count a new request (or WebSocket); the app that answers it.

        Past --limit-concurrency that is the 503 app (RFC 9110 section
        15.6.4), so that an overloaded server still answers at once.
        """
        app = self.app
        if self.limit_concurrency is not None and self.over_capacity():
            app = service_unavailable
            if self.metrics is not None:
                self.metrics.reject("503")
        self.active_requests += 1
        self.total_requests += 1
        return app

    def start_app(
        self, coroutine: Coroutine[Any, Any, None], eagerly: bool
    ) -> asyncio.Task[None] | None:
        """Run an app's cycle in a task of its own; the task, unless it is done already.

        Every task starts from a copy of `app_context` (see __init__). A task
        still running is registered for the graceful shutdown; it is removed
        by `request_finished`, or pruned by `running_tasks` if it is cancelled
        before it ever ran: no done callback per request.
        """
        if eagerly:
            task = start_eagerly(self.loop, coroutine, self.app_context.copy())
        else:
            task = self.loop.create_task(coroutine, context=self.app_context.copy())
        if task.done():  # Eagerly started apps are often done already.
            return None
        self.tasks.add(task)
        return task

    def request_finished(self, task: asyncio.Task[None] | None) -> None:
        self.active_requests -= 1
        if task is not None:
            self.tasks.discard(task)

    def count_request(self, cycle: HTTPCycleCore, metrics: ServerMetrics) -> None:
        """Count an HTTP request whose app returned (called before its access line)."""
        metrics.request_done(
            cycle.scope["method"],
            cycle.status,
            cycle.scope["http_version"],
            perf_counter() - cycle.start_time,
        )
        if not self.access_log_enabled:
            # Timed for the metrics only: a zero start time means no access line
            # (HTTPCycleCore._cycle_over logs after this).
            cycle.start_time = 0.0

    def over_capacity(self) -> bool:
        limit = self.limit_concurrency
        return limit is not None and (
            self.active_requests >= limit or len(self.connections) > limit
        )


if sys.version_info >= (3, 12):

    def start_eagerly(
        loop: asyncio.AbstractEventLoop,
        coroutine: Coroutine[Any, Any, None],
        context: contextvars.Context,
    ) -> asyncio.Task[None]:
        """Run the app at once, up to its first real suspension (Python 3.12 eager tasks).

        A response that needs no waiting (most do not) is written before this
        returns, without a trip through the event loop. It is a real Task from
        its first step: asyncio.current_task(), contextvars and cancellation
        are what the app expects, so sniffio/anyio detection works.
        """
        return asyncio.Task(coroutine, loop=loop, eager_start=True, context=context)

else:  # pragma: no cover - Python 3.11 has no eager start that keeps current_task() right

    def start_eagerly(
        loop: asyncio.AbstractEventLoop,
        coroutine: Coroutine[Any, Any, None],
        context: contextvars.Context,
    ) -> asyncio.Task[None]:
        return loop.create_task(coroutine, context=context)
