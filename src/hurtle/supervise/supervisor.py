"""The supervisor: worker processes behind listening sockets that it holds.

Theory of operation
-------------------
The supervisor binds the listening sockets once and never accepts on them:
each worker (worker.py) inherits them and accepts from the same kernel
queue. Because the supervisor keeps them open, connections that arrive while
no worker accepts (a restart, a crash) wait in the listen backlog instead of
being refused. It never imports the app.

It runs one loop on its main thread: `select` over a signal wake-up pipe,
the --reload watcher's pipe and each worker's `up` pipe, with a timeout that
is the next thing due (a ping, a kill, a delayed restart). Each turn it

1. reaps exited workers and decides what each exit means (process.py's
   states): a crash is replaced at once, a start-up failure after a backoff
   (0.5 s doubling to 30 s), and if every worker of the first start fails,
   the supervisor stops with the workers' exit code;
2. enforces deadlines: no PONG for --timeout-worker-healthcheck, not READY
   within --timeout-worker-startup (both: stack dump, then SIGKILL), still
   running long after it was asked to stop (SIGKILL);
3. reconciles: it wants `target` workers of the current `generation`
   serving. A worker is stale when it is of an older generation (SIGHUP
   raises the generation) or asked to be recycled (--max-requests). While
   stale workers serve, one extra worker is started; when it is READY the
   oldest stale worker is retired (RETIRE: drain gently, see server.py), and
   so on one at a time, so that the count of serving workers never drops
   below `target`. If a new worker fails at start-up during a SIGHUP
   restart, the restart is abandoned and the old workers keep serving.
   More workers serving than `target` (SIGTTOU) retires the oldest;
   fewer (a crash, SIGTTIN) starts new ones at once;
4. pings every serving worker.

Signals: SIGHUP rolling restart; SIGTERM/SIGINT graceful stop (SIGTERM to
every worker, then the supervisor closes its copies of the sockets, so new
connections are refused once the workers have closed theirs); a second SIGINT
or SIGQUIT stops without waiting; SIGTTIN/SIGTTOU one worker more or fewer.

--reload: a change restarts every worker at once (SIGTERM, then new workers,
without waiting for the old ones to finish their requests); a worker that
fails at start-up is not retried until the next change, and until then
requests get a 503 with its error (error_page.py) instead of waiting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from typing import Any

from hurtle.config import Config, ConfigError
from hurtle.exits import EXIT_ERROR, EXIT_OK, EXIT_USAGE, StartupError
from hurtle.logs import error_log
from hurtle.net.listen import BindError, bind_sockets, describe_socket
from hurtle.supervise.channel import READY, RECYCLE, pipe, read_available
from hurtle.supervise.error_page import ErrorPage
from hurtle.supervise.metrics import WorkerMetrics
from hurtle.supervise.process import State, WorkerProcess, describe_exit
from hurtle.supervise.reload import Reloader

__all__ = ["Supervisor"]

HEARTBEAT_KILL = "no answer to the heartbeat"
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
_ACTIVE = (State.STARTING, State.SERVING)
_HANDLED_SIGNALS = (
    signal.SIGCHLD,
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGTTIN,
    signal.SIGTTOU,
)


def _noop(signum: int, frame: Any) -> None:
    """The real work happens when the wake-up fd delivers the signal number."""


class Supervisor:
    def __init__(self, config: Config, app: str) -> None:
        self.config = config
        self.app = app
        self.target = config.workers
        self.generation = 0
        self.workers: list[WorkerProcess] = []
        self.sockets: list[socket.socket] = []
        self.reloader: Reloader | None = None
        self.selector = selectors.DefaultSelector()
        self.exit_code = EXIT_OK
        self.stopping = False
        self.forced = False
        self._stop_signals = 0
        self.ever_ready = False
        self.boot_failures = 0
        self.start_failures = 0  # in a row; a worker becoming READY resets it
        self.next_spawn_at = 0.0
        self.restarting = False  # a SIGHUP rolling restart is under way
        self.paused = False  # --reload: a worker failed at start-up; wait for a change
        health = config.timeout_worker_healthcheck
        self.ping_interval = min(1.0, max(0.1, health / 5)) if health else 1.0
        self.next_ping = 0.0
        self.last_turn = time.monotonic()
        # A stopping worker drains for up to the graceful timeout, then runs
        # lifespan shutdown for up to as long again.
        self.stop_grace = 2 * config.timeout_graceful_shutdown + 5.0
        self._boot: dict[str, Any] = {}
        self.reuse_port = False
        # --reload: where a worker that fails at start-up writes why, and the
        # 503 page that shows it until the next change (error_page.py).
        self.error_dir: str | None = None
        self.error_page: ErrorPage | None = None
        self.metrics: WorkerMetrics | None = None  # --metrics-bind (supervise/metrics.py)

    # -- running -------------------------------------------------------------

    def run(self) -> int:
        """Supervise until stopped; returns the process exit code."""
        if threading.current_thread() is not threading.main_thread():
            return _fail("the supervisor (--workers, --reload) must run in the main thread")
        config = self.config
        try:
            self.sockets = bind_sockets(config, listen=not config.reuse_port)
        except BindError as exc:
            return _fail(str(exc), EXIT_ERROR)
        # With --reuse-port the supervisor only reserves the port and each
        # worker binds its own socket; sockets from systemd are shared as given.
        self.reuse_port = config.reuse_port and not any(_listening(s) for s in self.sockets)
        try:
            if config.reload:
                self.reloader = Reloader(
                    config.reload_dir, config.reload_include, config.reload_exclude
                )
        except ConfigError as exc:
            self._close_sockets()
            return _fail(str(exc), EXIT_USAGE)
        if config.metrics_bind is not None:
            try:
                self.metrics = WorkerMetrics(config.metrics_bind)
            except StartupError as exc:
                self._close_sockets()
                return _fail(str(exc), exc.exit_code)
            address = self.metrics.endpoint.address
            error_log.info("metrics on http://%s:%d/metrics", address[0], address[1])
        self._boot = self._boot_message()
        wake_read, wake_write = pipe()
        previous = {sig: signal.signal(sig, _noop) for sig in _HANDLED_SIGNALS}
        previous_wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        try:
            self.selector.register(wake_read, selectors.EVENT_READ, "signals")
            if self.reloader is not None:
                self.reloader.start()
                self.selector.register(self.reloader.fileno(), selectors.EVENT_READ, "reload")
                error_log.info(
                    "watching %s for changes (--reload)",
                    ", ".join(str(root) for root in self.reloader.roots),
                )
            addresses = ", ".join(describe_socket(s, config.is_tls) for s in self.sockets)
            error_log.info(
                "hurtle supervisor (pid %d) starting %d worker(s) on %s",
                os.getpid(),
                self.target,
                addresses,
            )
            if _stdin_is_a_terminal():
                error_log.info("press CTRL+C to stop")
            self._loop(wake_read)
        finally:
            self._stop_error_page()
            if self.error_dir is not None:
                shutil.rmtree(self.error_dir, ignore_errors=True)
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for worker in self.workers:  # Only after an unexpected error.
                worker.kill()
                worker.proc.wait()
                worker.close()
            if self.reloader is not None:
                self.reloader.stop()
            if self.metrics is not None:
                self.metrics.close()
            self._close_sockets()
            if config.uds and self.sockets:
                try:
                    os.unlink(config.uds)
                except OSError:
                    pass
            self.selector.close()
            os.close(wake_read)
            os.close(wake_write)
        return self.exit_code

    def _boot_message(self) -> dict[str, Any]:
        """What every worker is told: the resolved config and the app."""
        values = dataclasses.asdict(self.config)
        # The supervisor's own business, not the workers': they serve on the
        # sockets they are given, in the environment they inherit.
        values.update(
            app=self.app, workers=1, reload=False, pid=None, fd=None, env_file=None, config=None
        )
        values["reuse_port"] = self.reuse_port
        if self.reuse_port:
            values["port"] = self.sockets[0].getsockname()[1]
        boot: dict[str, Any] = {"config": values, "app": self.app, "reload": self.config.reload}
        if self.config.reload:
            self.error_dir = tempfile.mkdtemp(prefix="hurtle-reload-")
            boot["error_file"] = os.path.join(self.error_dir, "error.txt")
        if self.metrics is not None:
            boot["metrics_dir"] = self.metrics.directory
        return boot

    def _loop(self, wake_fd: int) -> None:
        while True:
            now = time.monotonic()
            self._notice_own_pause(now)
            self._reap(now)
            if self.stopping and not self.workers:
                return
            self._enforce_deadlines(now)
            if not self.stopping:
                self._reconcile(now)
            self._ping(now)
            for key, _ in self.selector.select(self._next_wakeup(now)):
                if key.data == "signals":
                    for signum in read_available(wake_fd) or b"":
                        self._on_signal(signum)
                elif key.data == "reload":
                    self._on_changes()
                else:
                    self._on_worker_message(key.data)

    # -- events --------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        now = time.monotonic()
        if signum == signal.SIGCHLD:
            return  # Reaped at the top of the loop.
        name = signal.Signals(signum).name
        if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            self._stop_signals += 1
            self._stop_error_page()
            if not self.stopping:
                error_log.info(
                    "received %s: stopping the workers gracefully%s",
                    name,
                    "; press CTRL+C again to stop them now" if signum == signal.SIGINT else "",
                )
                self._begin_stop(now)
            # As a single server: a second SIGINT (or SIGQUIT) does not wait.
            if signum == signal.SIGQUIT or (signum == signal.SIGINT and self._stop_signals > 1):
                self._force(name)
            return
        if self.stopping:
            error_log.info("received %s while stopping: ignored", name)
            return
        if signum == signal.SIGHUP:
            self.generation += 1
            self.restarting = True
            deadline = now + self.stop_grace
            for worker in self.workers:
                if worker.state is State.STARTING:
                    worker.stop(deadline)  # Loading the old code: no use waiting for it.
            error_log.info(
                "received SIGHUP: restarting the %d worker(s) one at a time", self.target
            )
        elif signum == signal.SIGTTIN:
            self.target += 1
            error_log.info("received SIGTTIN: %d worker(s) now", self.target)
        elif signum == signal.SIGTTOU:
            if self.target > 1:
                self.target -= 1
                error_log.info("received SIGTTOU: %d worker(s) now", self.target)
            else:
                error_log.info("received SIGTTOU: already down to one worker")

    def _force(self, name: str) -> None:
        if not self.forced:
            self.forced = True
            error_log.warning("%s: stopping the workers without waiting for requests", name)
        for worker in self.workers:
            worker.force()

    def _on_changes(self) -> None:
        assert self.reloader is not None
        changes = self.reloader.take_changes()
        if not changes or self.stopping:
            return
        shown = ", ".join(changes[:5]) + (
            f" and {len(changes) - 5} more" if len(changes) > 5 else ""
        )
        error_log.info("changed: %s; restarting the workers (--reload)", shown)
        now = time.monotonic()
        self.paused = False
        self.restarting = False
        self.generation += 1
        self.start_failures = 0
        self.next_spawn_at = 0.0
        self._stop_error_page()
        if self.error_dir is not None:  # A stale message must not outlive its cause.
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.error_dir, "error.txt"))
        for worker in self.workers:
            if worker.state in _ACTIVE:
                worker.stop(now + self.stop_grace)

    def _show_error_page(self) -> None:
        """Answer 503 with the import error while nothing serves (--reload only)."""
        if self.error_page is not None or self.error_dir is None or self.reuse_port:
            return
        if any(w.state is State.SERVING for w in self.workers):
            return
        try:
            with open(os.path.join(self.error_dir, "error.txt"), encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            text = "(the worker left no message: see the terminal)\n"
        self.error_page = ErrorPage(self.sockets, text)
        self.error_page.start()
        error_log.info("answering requests with 503 and the error until then")

    def _stop_error_page(self) -> None:
        if self.error_page is not None:
            self.error_page.stop()
            self.error_page = None

    def _on_worker_message(self, worker: WorkerProcess) -> None:
        events = worker.receive(time.monotonic())
        if worker.eof:
            # It has exited (or closed the pipe, which only exit does);
            # SIGCHLD follows and it is reaped then.
            self.selector.unregister(worker.up)
        for event in events:
            if event == READY:
                self.ever_ready = True
                self.start_failures = 0
                self.next_spawn_at = 0.0
                error_log.info("worker pid %d ready", worker.pid)
            elif event == RECYCLE:
                error_log.info(
                    "worker pid %d reached --max-requests: starting its replacement", worker.pid
                )

    # -- the loop's turn -----------------------------------------------------

    def _notice_own_pause(self, now: float) -> None:
        # If the supervisor itself did not run for a while (SIGSTOP, a starved
        # machine), the workers had no pings to answer: do not blame them.
        if now - self.last_turn > 3.0:
            for worker in self.workers:
                worker.last_pong = max(worker.last_pong, now)
        self.last_turn = now

    def _reap(self, now: float) -> None:
        for worker in list(self.workers):
            code = worker.poll()
            if code is None:
                continue
            self.workers.remove(worker)
            if not worker.eof:
                self.selector.unregister(worker.up)
            worker.close()
            self._on_exit(worker, code, now)

    def _on_exit(self, worker: WorkerProcess, code: int, now: float) -> None:
        how = describe_exit(code)
        if self.metrics is not None:
            self.metrics.worker_exited(
                worker.pid,
                _exit_cause(worker, code, self.stopping),
                worker.kill_reason == HEARTBEAT_KILL,
            )
        if self.stopping:
            error_log.info("worker pid %d exited (%s)", worker.pid, how)
            return
        if worker.state is State.STARTING or worker.start_timed_out:
            self._on_start_failure(worker, code, how, now)
        elif worker.state is State.SERVING:
            error_log.error("worker pid %d died (%s): replacing it", worker.pid, how)
        elif worker.state is State.KILLING:
            error_log.error("worker pid %d %s (%s)", worker.pid, how, worker.kill_reason)
        else:
            # Asked to stop: SIGTERM may end it before it handles signals itself.
            expected = code in (0, -signal.SIGTERM)
            log = error_log.info if expected else error_log.warning
            log("worker pid %d exited (%s)", worker.pid, how)

    def _on_start_failure(self, worker: WorkerProcess, code: int, how: str, now: float) -> None:
        self.start_failures += 1
        error_log.error("worker pid %d failed at start-up (%s)", worker.pid, how)
        if self.config.reload:
            self.paused = True
            error_log.error("waiting for a file change to start the workers again (--reload)")
            self._show_error_page()
            return
        if not self.ever_ready:
            self.boot_failures += 1
            if self.boot_failures >= self.target:
                self.exit_code = code if code > 0 else EXIT_ERROR
                print(
                    f"hurtle: error: every worker failed at start-up ({how}); see above why",
                    file=sys.stderr,
                    flush=True,
                )
                self._begin_stop(now)
                return
        if self.restarting and any(
            w.state in _ACTIVE and w.generation != self.generation for w in self.workers
        ):
            # Deploying code that cannot start must not take down the code
            # that serves: abandon the restart, keep the old workers.
            self.restarting = False
            for other in self.workers:
                other.generation = self.generation
            error_log.error(
                "rolling restart abandoned: a new worker failed at start-up; the running "
                "workers keep serving the code they loaded"
            )
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.start_failures - 1))
        self.next_spawn_at = now + delay
        error_log.info("starting a new worker in %.1f s", delay)

    def _enforce_deadlines(self, now: float) -> None:
        config = self.config
        health = config.timeout_worker_healthcheck
        for worker in self.workers:
            if worker.state is State.STARTING:
                if now - worker.started_at > config.timeout_worker_startup:
                    error_log.error(
                        "worker pid %d is not serving %.0f s after it started "
                        "(--timeout-worker-startup): dumping its stack, then killing it",
                        worker.pid,
                        now - worker.started_at,
                    )
                    worker.start_timed_out = True
                    worker.kill_stuck(now, "not serving in time")
            elif worker.state is State.KILLING:
                if worker.kill_at is not None and now >= worker.kill_at:
                    worker.kill_at = None
                    worker.kill()
            elif health and now - worker.last_pong > health:
                error_log.error(
                    "worker pid %d has not answered the heartbeat for %.1f s: its event loop "
                    "is blocked. Dumping its stack, then killing it",
                    worker.pid,
                    now - worker.last_pong,
                )
                worker.kill_stuck(now, HEARTBEAT_KILL)
            elif worker.deadline is not None and now >= worker.deadline:
                error_log.warning(
                    "worker pid %d still running after it was asked to stop: dumping its stack, "
                    "then killing it",
                    worker.pid,
                )
                worker.kill_stuck(now, "still running after it was asked to stop")

    def _reconcile(self, now: float) -> None:
        # Start workers: up to `target` current ones, and while stale ones
        # serve, one extra at a time.
        while not self.paused and now >= self.next_spawn_at:
            active = [w for w in self.workers if w.state in _ACTIVE]
            fresh = [w for w in active if not self._stale(w)]
            if len(fresh) >= self.target:
                break
            fresh_starting = any(w.state is State.STARTING for w in fresh)
            if len(active) < self.target or (len(active) == self.target and not fresh_starting):
                if not self._spawn(now):
                    break
            else:
                break
        # Retire workers: never below `target` serving; stale ones first.
        serving = [w for w in self.workers if w.state is State.SERVING]
        while len(serving) > self.target:
            stale = [w for w in serving if self._stale(w)]
            victim = (stale or serving)[0]
            serving.remove(victim)
            error_log.info("retiring worker pid %d", victim.pid)
            victim.retire(now + self.stop_grace)
        old_left = any(w.state in _ACTIVE and w.generation != self.generation for w in self.workers)
        if self.restarting and not old_left and len(serving) >= self.target:
            self.restarting = False
            error_log.info("rolling restart done: %d worker(s) serving", len(serving))

    def _stale(self, worker: WorkerProcess) -> bool:
        return worker.generation != self.generation or worker.recycle

    def _spawn(self, now: float) -> bool:
        fds = [] if self.reuse_port else [s.fileno() for s in self.sockets]
        try:
            worker = WorkerProcess.spawn(self._boot, fds, self.generation, now)
        except OSError as exc:
            self.start_failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.start_failures - 1))
            self.next_spawn_at = now + delay
            error_log.error("cannot start a worker: %s; trying again in %.1f s", exc, delay)
            return False
        self.workers.append(worker)
        self.selector.register(worker.up, selectors.EVENT_READ, worker)
        error_log.debug("started worker pid %d", worker.pid)
        if self.metrics is not None:
            self.metrics.worker_started()
        return True

    def _ping(self, now: float) -> None:
        if now < self.next_ping:
            return
        self.next_ping = now + self.ping_interval
        for worker in self.workers:
            if worker.state in (State.SERVING, State.STOPPING):
                worker.ping()

    def _next_wakeup(self, now: float) -> float:
        due = [self.next_ping, now + 1.0]
        if not self.stopping and not self.paused and self.next_spawn_at > now:
            due.append(self.next_spawn_at)
        health = self.config.timeout_worker_healthcheck
        for worker in self.workers:
            if worker.state is State.STARTING:
                due.append(worker.started_at + self.config.timeout_worker_startup)
            elif worker.state is State.KILLING:
                if worker.kill_at is not None:
                    due.append(worker.kill_at)
            else:
                if health:
                    due.append(worker.last_pong + health)
                if worker.deadline is not None:
                    due.append(worker.deadline)
        return max(0.0, min(due) - now)

    # -- stopping ------------------------------------------------------------

    def _begin_stop(self, now: float) -> None:
        self.stopping = True
        deadline = now + self.stop_grace
        for worker in self.workers:
            worker.stop(deadline)
        # The workers close their copies as they start draining; once ours is
        # closed too, new connections are refused, as with a single server.
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self.sockets:
            sock.close()


def _exit_cause(worker: WorkerProcess, code: int, stopping: bool) -> str:
    """Why a worker exited, for hurtle_worker_exits_total (docs/metrics.md)."""
    if worker.state is State.KILLING or worker.start_timed_out:
        return "killed"
    if worker.state is State.STARTING:
        return "startup_failed"
    if (stopping or worker.state is State.STOPPING) and code in (0, -signal.SIGTERM):
        return "stopped"
    return "crashed"


def _listening(sock: socket.socket) -> bool:
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except (AttributeError, OSError):  # pragma: no cover - SO_ACCEPTCONN is not everywhere
        return False  # Then only systemd (Linux, which has it) could have made it listen.


def _stdin_is_a_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced
        return False


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"hurtle: error: {message}", file=sys.stderr, flush=True)
    return code
