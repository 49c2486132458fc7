"""--blocking-warn-after: find the code that holds the event loop, while it holds it.

Theory of operation
-------------------
A heartbeat on the loop (`call_later`, every `threshold / 5` seconds: one
callback per interval per process, never per request) stamps the time. A
watchdog thread wakes as often and looks at the stamp's age: a heartbeat
overdue by more than `threshold` means one callback or task step has held
the loop that long (or, far more rarely, a single turn of the loop ran that
many). The thread then reads the loop thread's current frame with
`sys._current_frames()` (the block is still going on), and logs one warning
on `hurtle.error` with

- the request the blocked step serves: the frame of `RunsApp.run`
  (asgi/running.py), the outermost coroutine of every app task, holds the
  cycle, whose scope gives the method and path; found by walking the stack,
  so the request path costs nothing;
- the Python stack of the blocking code, from the app's entry inwards;
- how long the loop has been held so far.

One warning per block; at most one per `report_every` seconds per process,
with the number of blocks not reported since. Every process watches its own
loop: a single server, or each worker. The same on asyncio and uvloop: both
run `call_later`, and the stack is Python's.

A step that holds the loop for longer than `threshold + 2 * threshold / 5`
is always reported (the heartbeat may come due up to an interval after the
step began, and the thread looks once an interval); a shorter one past
`threshold` may be. Code that holds the GIL throughout, inside one C call,
keeps the watchdog thread from running until it lets go: such a block is
reported when it ends, or not at all. Sleeping, waiting on a socket, a
database driver's I/O and pure Python all let go.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import traceback
from types import FrameType
from typing import Any

from hurtle.asgi.lifespan import Lifespan
from hurtle.asgi.running import RunsApp
from hurtle.logs import describe_scope, error_log

__all__ = ["REPORT_EVERY", "LoopWatchdog"]

# At most one warning per this many seconds per process: a view that blocks
# on every request would otherwise log a stack per request.
REPORT_EVERY = 10.0

_RUN_CODE = RunsApp.run.__code__
_HURTLE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # src/hurtle/
_LIFESPAN_CODE = Lifespan._main.__code__


class LoopWatchdog:
    """Warns when the loop it was started on is held longer than `threshold` seconds."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, threshold: float, report_every: float = REPORT_EVERY
    ) -> None:
        self.loop = loop
        self.threshold = threshold
        self.interval = threshold / 5
        self.report_every = report_every
        self.reported = 0  # Warnings logged.
        self.suppressed = 0  # Blocks found but not reported (rate limit), since the last warning.
        self._beat = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop_thread = 0
        self._last_report = -report_every

    def start(self) -> None:
        """Start watching; call it from the loop's own thread."""
        self._loop_thread = threading.get_ident()
        self._heartbeat()
        self._thread = threading.Thread(
            target=self._watch, name="hurtle-blocking-watchdog", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._thread is not None:
            self._thread.join(self.interval + 1.0)
            self._thread = None

    def _heartbeat(self) -> None:
        self._beat = time.monotonic()
        self._timer = self.loop.call_later(self.interval, self._heartbeat)

    # -- the watchdog thread ---------------------------------------------------

    def _watch(self) -> None:
        reported_beat = None  # The stamp of the block last looked at: one look per block.
        while not self._stop.wait(self.interval):
            beat = self._beat
            held = time.monotonic() - beat - self.interval  # How overdue the heartbeat is.
            if held <= self.threshold or beat == reported_beat:
                continue
            reported_beat = beat
            frame = sys._current_frames().get(self._loop_thread)
            if frame is None:
                continue
            what, stack = _blocked_step(frame)
            del frame
            if self._beat != beat:
                continue  # The block ended while the stack was read: it may be another step's.
            now = time.monotonic()
            if now - self._last_report < self.report_every:
                self.suppressed += 1
                continue
            self._last_report = now
            self._report(what, held, stack)

    def _report(self, what: str, held: float, stack: traceback.StackSummary) -> None:
        suppressed = self.suppressed
        self.suppressed = 0
        self.reported += 1
        note = (
            f" ({suppressed} more block(s) since the last warning not reported)"
            if suppressed
            else ""
        )
        error_log.warning(
            "event loop blocked for %.2f s so far (over --blocking-warn-after %g s) "
            "serving %s (pid %d)%s; the blocking code (most recent call last):\n%s",
            held,
            self.threshold,
            what,
            os.getpid(),
            note,
            "".join(stack.format()).rstrip("\n"),
        )


def _blocked_step(innermost: FrameType) -> tuple[str, traceback.StackSummary]:
    """What the blocked step serves, and its stack from the app's entry inwards."""
    frames: list[FrameType] = []
    what = "no request (a loop callback outside any app)"
    frame: FrameType | None = innermost
    while frame is not None:
        code = frame.f_code
        if code is _RUN_CODE:
            what = _describe_cycle(frame.f_locals.get("self"))
            break
        if code is _LIFESPAN_CODE:
            what = "the lifespan handler"
            break
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    # hurtle's own frames between the task and the app (--asgi-strict's wrapper).
    while len(frames) > 1 and frames[0].f_code.co_filename.startswith(_HURTLE_DIR):
        del frames[0]
    stack = traceback.StackSummary.extract((f, f.f_lineno) for f in frames)
    return what, stack


def _describe_cycle(cycle: Any) -> str:
    scope = getattr(cycle, "scope", None)
    return describe_scope(scope) if isinstance(scope, dict) else "an app"
