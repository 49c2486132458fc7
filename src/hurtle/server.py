"""One serving process: start up, serve, drain, shut down.

Theory of operation
-------------------
`Server.load()` imports the app (the import string, the --factory call, the
interface detection and its adapter) in the calling thread. `run_config`
(launch.py) and every worker process call it before their event loop
starts, because some apps cannot be imported where a loop runs: a Django project that migrates at
import gets SynchronousOnlyOperation from the ORM there, and an app that
calls `asyncio.run()` at import gets a RuntimeError. `serve()` loads the app
itself only when nobody did (a caller serving in a loop of their own).

`Server.serve()` binds the listening sockets first (a port in use fails
before the app's startup work), runs lifespan startup, then starts accepting.
It serves until `shutdown()` is called or SIGINT/SIGTERM arrives. Graceful
shutdown then: stop accepting; close idle keep-alive connections; let
in-flight requests finish (their connections close after the response) for
up to `timeout_graceful_shutdown` seconds; cancel what is left; run lifespan
shutdown. A second SIGINT skips the wait.

A worker being replaced while other workers serve (`shutdown(linger=True)`)
drains more gently: idle keep-alive connections are not closed at once but
left to their next request, answered with `connection: close`, or to their
keep-alive timeout. A client never sees a connection closed under a request
it is sending, which closing idle connections at once would risk (RFC 9112
section 9.3.1: a close can cross a request in flight).

Starting a process (one server, or a supervisor and its workers) is
launch.py's job; many processes are hurtle.supervise's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
from typing import Any

from hurtle.asgi.interface import InterfaceError
from hurtle.asgi.interface import adapt as adapt_interface
from hurtle.asgi.lifespan import Lifespan, LifespanFailed
from hurtle.asgi.types import ASGIApp
from hurtle.config import Config
from hurtle.exits import EXIT_ERROR, EXIT_STARTUP_FAILED, StartupError
from hurtle.importer import AppImportError, load_app
from hurtle.logs import error_log
from hurtle.memory import release_free_memory, tune_malloc
from hurtle.metrics.snapshot import Scrape
from hurtle.net.blocking import LoopWatchdog
from hurtle.net.connection import H1Connection
from hurtle.net.listen import BindError, bind_sockets, create_ssl_context, describe_socket
from hurtle.net.metrics_probes import LoopLagProbe, count_handshake_failures
from hurtle.net.proxy import connection_factory
from hurtle.net.state import ServerState

__all__ = ["Server", "StartupError", "serve"]

DEMO_APP = "hurtle.demo.app:app"


class Server:
    """A hurtle server inside a running event loop.

    >>> server = Server(app, Config(port=0))
    >>> task = asyncio.create_task(server.serve())
    >>> await server.started.wait(); print(server.addresses)
    >>> server.shutdown(); await task

    `serve()` imports an app given as an import string in that loop, unless
    `load()` was called before the loop started.
    """

    def __init__(self, app: Any, config: Config | None = None, **options: Any) -> None:
        self.config = config if config is not None else Config(**options)
        self.app_spec = app if app is not None else (self.config.app or DEMO_APP)
        self.started = asyncio.Event()
        self.addresses: list[str] = []
        self.sockets: list[socket.socket] = []
        self.state: ServerState | None = None
        self._exit = asyncio.Event()
        self._force = asyncio.Event()
        self._linger = False
        self._signals = 0
        self._interrupted = False  # stopped by SIGINT: CTRL+C on a terminal
        self._app: ASGIApp | None = None
        self._malloc_tuned = False
        # --metrics-bind: this process serves the endpoint, unless a supervisor
        # does (a worker sets this False and reports `metrics_snapshot()`).
        self.serve_metrics = True

    # -- control -------------------------------------------------------------

    def shutdown(self, force: bool = False, *, linger: bool = False) -> None:
        """Ask for a graceful stop (or, with force, a stop without waiting).

        `linger`: leave idle keep-alive connections to their next request or
        their keep-alive timeout instead of closing them at once (see the
        module docstring); for a worker that other workers stand in for.
        """
        if linger and not self._exit.is_set():
            self._linger = True
        elif not linger:
            self._linger = False  # A plain stop cuts a lingering drain short.
        self._exit.set()
        if force:
            self._force.set()

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        self._interrupted = self._interrupted or signum == signal.SIGINT
        if self._signals > 1 and signum == signal.SIGINT:
            error_log.warning("second SIGINT: stopping without waiting for requests")
            self.shutdown(force=True)
        else:
            error_log.info("received %s: shutting down gracefully", signal.Signals(signum).name)
            self.shutdown()

    # -- serving -------------------------------------------------------------

    async def serve(
        self,
        install_signal_handlers: bool | None = None,
        sockets: list[socket.socket] | None = None,
    ) -> None:
        """Serve until shutdown. Raises StartupError if serving cannot start.

        Loads the app first (in this loop) if `load()` has not been called.
        `sockets`: listening sockets bound by someone else (a supervisor);
        without them the server binds its own from the config.
        """
        config = self.config
        loop = asyncio.get_running_loop()
        app = self.load()
        try:
            ssl_context = create_ssl_context(config)
            self.sockets = sockets if sockets is not None else bind_sockets(config)
        except BindError as exc:
            raise StartupError(str(exc), EXIT_ERROR) from None
        owns_sockets = sockets is None
        state = self.state = ServerState(config, app, loop)
        metrics_probe: LoopLagProbe | None = None
        metrics_endpoint: Any = None
        if state.metrics is not None:
            if self.serve_metrics and config.metrics_bind is not None:
                from hurtle.metrics.endpoint import MetricsEndpoint

                metrics_endpoint = MetricsEndpoint(config.metrics_bind, self._scrape)
                error_log.info("metrics on http://%s:%d/metrics", *metrics_endpoint.address[:2])
            if ssl_context is not None:
                count_handshake_failures(ssl_context, state.metrics)
            metrics_probe = LoopLagProbe(loop, state.metrics)
            metrics_probe.start()
        lifespan = Lifespan(app, config.lifespan)
        state.lifespan_state = lifespan.state
        servers: list[asyncio.Server] = []
        watchdog: LoopWatchdog | None = None
        if install_signal_handlers is None:
            install_signal_handlers = threading.current_thread() is threading.main_thread()
        handled = self._install_signals(loop) if install_signal_handlers else []
        try:
            try:
                await lifespan.startup()
            except LifespanFailed as exc:
                raise StartupError(
                    f"application startup failed: {exc}", EXIT_STARTUP_FAILED
                ) from None
            for sock in self.sockets:
                servers.append(
                    await loop.create_server(
                        connection_factory(state, H1Connection),
                        sock=sock,
                        ssl=ssl_context,
                        backlog=config.backlog,
                    )
                )
                self.addresses.append(describe_socket(sock, ssl_context is not None))
            for address in self.addresses:
                error_log.info("hurtle serving on %s (pid %d)", address, os.getpid())
            if signal.SIGINT in handled and _stdin_is_a_terminal():
                error_log.info("press CTRL+C to stop")
            if self._malloc_tuned:
                release_free_memory()  # What start-up freed; the threshold would keep it.
            if config.blocking_warn_after:
                # Started once serving begins: a slow startup delays no request.
                watchdog = LoopWatchdog(loop, config.blocking_warn_after)
                watchdog.start()
            self.started.set()
            await self._exit.wait()
            await self._drain(servers, state)
        finally:
            if watchdog is not None:
                watchdog.stop()
            for server in servers:
                server.close()
            await lifespan.shutdown(timeout=config.timeout_graceful_shutdown or None)
            state.stop_ticking()
            if metrics_probe is not None:
                metrics_probe.stop()
            if metrics_endpoint is not None:
                metrics_endpoint.close()
            for sig in handled:
                loop.remove_signal_handler(sig)
            if config.uds and self.sockets and owns_sockets:
                _remove_socket_file(config.uds)
            for sock in self.sockets:
                sock.close()

    def metrics_snapshot(self) -> dict[str, Any] | None:
        """This process's counters and gauges (metrics/snapshot.py), or None."""
        state = self.state
        if state is None or state.metrics is None:
            return None
        return state.metrics.snapshot(state.active_requests, state.connections)

    def _scrape(self) -> Scrape:
        snapshot = self.metrics_snapshot() or {}
        return Scrape(snapshot, [(None, snapshot)])

    def load(self) -> ASGIApp:
        """Load the app now, in this thread; once (later calls return it). Raises StartupError.

        Call it before starting an event loop to serve an app whose import
        cannot run inside one (see the module docstring); `serve()` calls it
        otherwise. The allocator is tuned (--malloc-trim-threshold) before
        the import allocates; `serve()` returns what start-up freed.
        """
        if self._app is None:
            self._malloc_tuned = tune_malloc(self.config.malloc_trim_threshold)
            self._app = self._load_app()
        return self._app

    def _load_app(self) -> ASGIApp:
        config = self.config
        try:
            loaded = load_app(
                self.app_spec, factory=config.factory, app_dir=os.path.abspath(config.app_dir)
            )
            # Once, here: a WSGI or ASGI 2 app is wrapped into ASGI 3, and an
            # ASGI 3 app is served as it is, with no per-request cost.
            app = adapt_interface(
                loaded,
                config.interface,
                wsgi_threads=config.wsgi_threads,
                multiprocess=config.workers > 1,
            )
            if config.asgi_strict:
                # Only when asked for: without it the app is served as loaded,
                # so strict mode costs nothing when off (asgi/strict.py).
                from hurtle.asgi.strict import StrictApp

                app = StrictApp(app)
        except (AppImportError, InterfaceError) as exc:
            raise StartupError(str(exc), EXIT_ERROR) from exc
        return app

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        handled: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                continue
            handled.append(sig)
        return handled

    async def _drain(self, servers: list[asyncio.Server], state: ServerState) -> None:
        state.shutting_down = True
        await _stop_accepting(servers)
        for server in servers:
            server.close()
        loop = asyncio.get_running_loop()
        timeout = self.config.timeout_graceful_shutdown
        deadline = loop.time() + timeout
        if self._linger:
            # A connection accepted just before close() is made a loop
            # iteration or two later; let it arrive so it lingers too. Then
            # every idle connection has closed itself after its keep-alive
            # timeout, or been used and closed after that response.
            await asyncio.sleep(0.05)
            linger_end = min(deadline, loop.time() + self.config.timeout_keep_alive + 0.1)
            await self._wait_for_connections(state, linger_end, lingering=True)
        for connection in list(state.connections):
            connection.shutdown()
        in_flight = len(state.running_tasks())
        if in_flight and not self._force.is_set():
            error_log.info(
                "waiting up to %g s for %d request(s) to finish%s",
                max(0.0, deadline - loop.time()),
                in_flight,
                "; press CTRL+C again to stop now" if self._interrupted else "",
            )
        await self._wait_for_connections(state, deadline)
        running = list(state.running_tasks())
        if state.connections or running:
            error_log.warning(
                "%d request(s) still running after the graceful shutdown: cancelling them",
                len(running),
            )
            for task in running:
                task.cancel()
            for connection in list(state.connections):
                connection.abort()
            if running:
                await asyncio.wait(running, timeout=1.0)

    async def _wait_for_connections(
        self, state: ServerState, deadline: float, lingering: bool = False
    ) -> None:
        """Until every connection and request has ended, the deadline, or a forced stop."""
        loop = asyncio.get_running_loop()
        while state.connections or state.running_tasks():
            if self._force.is_set() or loop.time() >= deadline:
                break
            if lingering and not self._linger:
                break
            try:
                await asyncio.wait_for(self._force.wait(), 0.05)
            except TimeoutError:
                pass


async def _stop_accepting(servers: list[asyncio.Server]) -> None:
    """Stop accepting, then let connections accepted a moment ago reach their protocol.

    asyncio's selector loop accepts in a reader callback and builds the
    transport in a task one iteration later; a Server.close() in between
    drops that connection unanswered (and on Python 3.13.0 leaks its
    transport). Removing the reader first and yielding closes the gap.
    uvloop builds the transport as it accepts and needs none of this.
    """
    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        return
    for server in servers:
        for sock in server.sockets:
            loop.remove_reader(sock.fileno())
    for _ in range(3):
        await asyncio.sleep(0)


def _stdin_is_a_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced
        return False


def _remove_socket_file(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


async def serve(app: Any = None, config: Config | None = None, **options: Any) -> None:
    """Serve `app` in the running event loop until SIGINT/SIGTERM.

    An import string is imported in this loop; an app whose import cannot run
    inside a loop needs `Server.load()` before the loop starts (or `run()`).
    For control over the server (its bound addresses, a programmatic stop),
    create a `Server` and await its `serve()` instead.
    """
    await Server(app, config, **options).serve()
