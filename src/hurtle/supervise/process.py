"""One worker process as the supervisor sees it: spawn, messages, state, exit.

Theory of operation
-------------------
A worker moves through these states; the supervisor reads `state` when the
process exits to know what the exit means.

    STARTING --READY--> SERVING --retire() / stop()--> STOPPING --exit--> gone
        |                  |
        |                  `--no PONG for the health timeout--> KILLING --SIGKILL--> gone
        `--not READY within the start-up timeout--> KILLING

- STARTING: importing the app and running lifespan startup. Pings are not
  sent yet (an import blocks the loop, legitimately); the start-up timeout
  bounds this state. Exiting here is a start-up failure.
- SERVING: accepting connections; it must answer each PING within the
  health timeout. Exiting here is a crash, replaced at once.
- STOPPING: asked to drain, either gently by RETIRE (a replacement already
  serves) or by SIGTERM (the whole server stops, or --reload restarts). It
  keeps answering pings; past `deadline` it is killed.
- KILLING: it stopped answering, or never started: SIGUSR1 made it dump its
  Python stack to the log, and SIGKILL follows at `kill_at`, long enough
  after for the dump to be written.
"""

from __future__ import annotations

import enum
import json
import os
import signal
import subprocess
import sys
from typing import Any

from hurtle.supervise.channel import (
    PING,
    PONG,
    READY,
    RECYCLE,
    RETIRE,
    STACK_DUMP_SIGNAL,
    pipe,
    read_available,
    send,
)

__all__ = ["State", "WorkerProcess", "describe_exit"]

# Time between the stack-dump signal and SIGKILL: faulthandler writes the dump
# from its signal handler at once; this is slack for a loaded machine.
DUMP_GRACE = 1.0


class State(enum.Enum):
    STARTING = "starting"
    SERVING = "serving"
    STOPPING = "stopping"
    KILLING = "killing"


class WorkerProcess:
    """A running worker and what the supervisor knows of it."""

    def __init__(
        self, proc: subprocess.Popen[bytes], down: int, up: int, generation: int, now: float
    ) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.down = down
        self.up = up
        self.generation = generation
        self.state = State.STARTING
        self.started_at = now
        self.last_pong = now
        self.recycle = False  # asked for a replacement (--max-requests)
        self.deadline: float | None = None  # STOPPING: killed if still running then
        self.kill_at: float | None = None  # KILLING: SIGKILL then
        self.kill_reason = ""
        self.start_timed_out = False
        self.eof = False  # its end of `up` is closed: it has exited
        self.returncode: int | None = None

    @classmethod
    def spawn(
        cls, boot: dict[str, Any], socket_fds: list[int], generation: int, now: float
    ) -> WorkerProcess:
        """Start a fresh interpreter running worker.py; raises OSError if it cannot start."""
        down_read, down_write = pipe()
        up_read, up_write = pipe()
        child_ends = (down_read, up_write)
        try:
            message = {**boot, "fds": socket_fds, "down": down_read, "up": up_write}
            proc = subprocess.Popen(
                [sys.executable, "-m", "hurtle.supervise.worker"],
                stdin=subprocess.PIPE,
                pass_fds=(*socket_fds, *child_ends),
            )
        except BaseException:
            for fd in (down_read, down_write, up_read, up_write):
                os.close(fd)
            raise
        for fd in child_ends:
            os.close(fd)
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(message).encode("utf-8"))
            proc.stdin.close()
        except OSError:
            pass  # It died already; the supervisor sees the exit.
        return cls(proc, down_write, up_read, generation, now)

    def fileno(self) -> int:
        return self.up

    # -- messages ------------------------------------------------------------

    def receive(self, now: float) -> list[bytes]:
        """Read what the worker said; returns READY/RECYCLE events that change its state."""
        data = read_available(self.up)
        if data is None:
            self.eof = True
            return []
        if not data:
            return []
        events = []
        if PONG in data:
            self.last_pong = now
        if READY in data and self.state is State.STARTING:
            self.state = State.SERVING
            self.last_pong = now
            events.append(READY)
        if RECYCLE in data and not self.recycle:
            self.recycle = True
            events.append(RECYCLE)
        return events

    def ping(self) -> None:
        send(self.down, PING)

    # -- stopping ------------------------------------------------------------

    def retire(self, deadline: float) -> None:
        """Drain gently: other workers serve, so idle connections may linger."""
        if self.state in (State.STARTING, State.SERVING):
            self.state = State.STOPPING
            self.deadline = deadline
            if not send(self.down, RETIRE):
                self.signal(signal.SIGTERM)

    def stop(self, deadline: float) -> None:
        """Drain as a single server does on SIGTERM."""
        if self.state in (State.STARTING, State.SERVING, State.STOPPING):
            self.state = State.STOPPING
            self.deadline = deadline if self.deadline is None else min(deadline, self.deadline)
            self.signal(signal.SIGTERM)

    def force(self) -> None:
        """Stop without waiting for requests (SIGQUIT: the worker still runs lifespan shutdown)."""
        self.signal(signal.SIGQUIT)

    def kill_stuck(self, now: float, reason: str) -> None:
        """Dump its stack to the log now, kill it DUMP_GRACE later."""
        if self.state is not State.KILLING:
            self.state = State.KILLING
            self.kill_reason = reason
            self.kill_at = now + DUMP_GRACE
            self.signal(STACK_DUMP_SIGNAL)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                self.proc.send_signal(signum)
            except ProcessLookupError:
                pass

    # -- exit ----------------------------------------------------------------

    def poll(self) -> int | None:
        """The exit status once it has exited (and been reaped), else None."""
        if self.returncode is None:
            self.returncode = self.proc.poll()
        return self.returncode

    def close(self) -> None:
        for fd in (self.down, self.up):
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"<worker pid {self.pid} {self.state.value}>"


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"
