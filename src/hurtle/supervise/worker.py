"""A worker process: one `Server` on the supervisor's listening sockets.

Theory of operation
-------------------
The supervisor starts `python -m hurtle.supervise.worker` as a fresh
interpreter (never a fork of itself, so an app that starts threads at import
gets a clean process, and every worker imports the code on disk now: a rolling
restart loads new code). The supervisor writes one JSON object on the
worker's stdin: the resolved config, the app's import string, the numbers of
the inherited listening sockets and of the two control pipes (channel.py).

The worker then serves like a single hurtle process (it imports the app
before its event loop starts, see server.py), with three differences:

- it binds nothing (the sockets are the supervisor's, shared by every
  worker), unless --reuse-port asks each worker for its own SO_REUSEPORT
  socket;
- it tells the supervisor READY once it accepts connections, answers every
  PING with a PONG from its event loop, and sends RECYCLE once it has served
  --max-requests (the supervisor starts a replacement, then retires it);
- signals: SIGTERM drains as usual; RETIRE on the pipe drains gently (idle
  keep-alive connections linger, see server.py); SIGQUIT stops without
  waiting; SIGINT, SIGHUP, SIGTTIN and SIGTTOU are the supervisor's business
  (a terminal's Ctrl-C reaches the whole process group), and SIGUSR1 dumps
  every thread's Python stack to stderr (faulthandler), which the
  supervisor asks for before it kills a worker that stopped answering.

End of file on the `down` pipe means the supervisor has gone (even by
SIGKILL): the worker drains and exits rather than serve on unsupervised.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import os
import random
import signal
import socket
import sys
import traceback
from typing import Any

from hurtle.config import Config, ConfigError
from hurtle.exits import EXIT_ERROR, EXIT_OK, EXIT_USAGE, StartupError, report_startup_error
from hurtle.logs import LogConfigError, error_log
from hurtle.loops import loop_factory
from hurtle.net.listen import BindError, bind_sockets
from hurtle.server import Server
from hurtle.supervise.channel import (
    PING,
    PONG,
    READY,
    RECYCLE,
    RETIRE,
    STACK_DUMP_SIGNAL,
    read_available,
    send,
)
from hurtle.supervise.metrics import write_snapshot

__all__ = ["Worker", "main"]

_SUPERVISORS_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU)


def _ignore(signum: int, frame: Any) -> None:
    """A handler that does nothing (unlike SIG_IGN, it is not inherited across exec)."""


class Worker:
    """Serve `app` on `sockets` and talk to the supervisor over the two pipes."""

    def __init__(
        self, config: Config, app: str, sockets: list[socket.socket], down: int, up: int
    ) -> None:
        self.config = config
        self.server = Server(app, config)
        self.sockets = sockets
        self.down = down
        self.up = up
        self.request_limit: int | None = None
        if config.max_requests is not None:
            self.request_limit = config.max_requests + random.randint(0, config.max_requests_jitter)
        self._recycle_sent = False
        self._sigterm_seen = False
        # --metrics-bind: the supervisor serves the endpoint and reads each
        # worker's snapshots from here (supervise/metrics.py).
        self.metrics_dir: str | None = None
        self.server.serve_metrics = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        loop.add_signal_handler(signal.SIGQUIT, self.server.shutdown, True)
        for signum in _SUPERVISORS_SIGNALS:
            loop.add_signal_handler(signum, lambda: None)
        loop.add_reader(self.down, self._on_message)
        serving = asyncio.ensure_future(
            self.server.serve(install_signal_handlers=False, sockets=self.sockets)
        )
        started = asyncio.ensure_future(self.server.started.wait())
        try:
            await asyncio.wait({serving, started}, return_when=asyncio.FIRST_COMPLETED)
            if started.done():
                send(self.up, READY)
            await serving
        finally:
            self._write_metrics()  # The last count, for the supervisor to keep.
            started.cancel()
            loop.remove_reader(self.down)

    def _on_sigterm(self) -> None:
        # A SIGTERM sent to the whole process group (a container runtime, a
        # terminal's kill) reaches the worker twice: from the sender and from
        # the supervisor. One line says it.
        if not self._sigterm_seen:
            self._sigterm_seen = True
            error_log.info("worker pid %d received SIGTERM: shutting down gracefully", os.getpid())
        self.server.shutdown()

    def _on_message(self) -> None:
        data = read_available(self.down)
        if data is None:
            asyncio.get_running_loop().remove_reader(self.down)
            error_log.warning("the supervisor has gone: this worker shuts down")
            self.server.shutdown()
            return
        if PING in data:
            self._write_metrics()
            send(self.up, PONG)
            self._check_request_limit()
        if RETIRE in data:
            self.server.shutdown(linger=True)

    def _write_metrics(self) -> None:
        if self.metrics_dir is not None:
            snapshot = self.server.metrics_snapshot()
            if snapshot is not None:
                write_snapshot(self.metrics_dir, snapshot)

    def _check_request_limit(self) -> None:
        state = self.server.state
        limit = self.request_limit
        if limit is None or self._recycle_sent or state is None:
            return
        if state.total_requests >= limit:
            self._recycle_sent = True
            error_log.info(
                "worker served %d requests (--max-requests %d): asking for a replacement",
                state.total_requests,
                limit,
            )
            send(self.up, RECYCLE)


def _inherited_sockets(config: Config, fds: list[int]) -> list[socket.socket]:
    if config.reuse_port:
        # The supervisor reserved the port (and resolved --port 0); each worker
        # binds its own socket to it and the kernel balances between them.
        return bind_sockets(config)
    return [socket.socket(fileno=fd) for fd in fds]


def main() -> None:
    """The worker process's entry point; exits with hurtle's exit codes."""
    for signum in _SUPERVISORS_SIGNALS:
        signal.signal(signum, _ignore)
    faulthandler.register(STACK_DUMP_SIGNAL, file=sys.stderr, all_threads=True)
    boot = json.load(sys.stdin)
    for fd in (*boot["fds"], boot["down"], boot["up"]):
        # Inherited on purpose, but not to be passed on to what the app spawns:
        # a grandchild holding `down` would hide the supervisor's exit.
        os.set_inheritable(fd, False)
    config = Config(**boot["config"])
    try:
        config.configure_logging(show_pid=True)
        factory = loop_factory(config.loop)
    except (LogConfigError, ConfigError) as exc:
        print(f"hurtle: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    try:
        sockets = _inherited_sockets(config, boot["fds"])
    except BindError as exc:
        print(f"hurtle: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    worker = Worker(config, boot["app"], sockets, boot["down"], boot["up"])
    worker.metrics_dir = boot.get("metrics_dir")
    try:
        worker.server.load()  # Before the loop starts, as a single process does (server.py).
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(worker.run())
    except StartupError as exc:
        debug = config.log_level in ("debug", "trace")
        shown = debug
        if exc.__cause__ is not None and debug:
            error_log.debug("details:", exc_info=exc.__cause__)
        elif boot.get("reload") and exc.__cause__ is not None and exc.__cause__.__cause__:
            # Under --reload the error is in code being edited: show where.
            traceback.print_exception(exc.__cause__.__cause__)
            shown = True
        report_startup_error(exc, traceback_shown=shown)
        if boot.get("error_file"):
            _write_error_file(boot["error_file"], exc)
        sys.exit(exc.exit_code)
    sys.exit(EXIT_OK)


def _write_error_file(path: str, exc: StartupError) -> None:
    """For --reload's error page (error_page.py): the traceback and the error line."""
    cause = exc.__cause__.__cause__ if exc.__cause__ is not None else None
    text = "".join(traceback.format_exception(cause)) if cause is not None else ""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"{text}hurtle: error: {exc}\n")
    except OSError:
        pass  # The page then says less; the terminal has it all.


if __name__ == "__main__":
    main()
