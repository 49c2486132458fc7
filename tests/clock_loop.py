"""An event loop whose clock moves only when the test moves it (tests/net/)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any


class ClockLoop(asyncio.SelectorEventLoop):
    """A real event loop whose clock moves only when the test moves it.

    Timers (call_later) fire when `advance` passes their time: no test waits
    for the wall clock, and none depends on how fast the machine is. It also
    records what is handed to call_soon, to count the flushes scheduled.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.soon: list[Callable[..., object]] = []

    def time(self) -> float:
        return self.now

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        self.soon.append(callback)
        return super().call_soon(callback, *args, context=context)

    def spin(self, turns: int = 5) -> None:
        """Let tasks step and the end-of-turn flush run, with the clock standing still."""
        for _ in range(turns):
            self.run_until_complete(asyncio.sleep(0))

    def advance(self, seconds: float) -> None:
        """Let what is due now run, then move the clock on and let what fell due run."""
        self.spin()
        self.now += seconds
        self.spin()
