"""The ASGI lifespan protocol (asgiref specs/lifespan.rst).

Theory of operation
-------------------
One task runs `app({"type": "lifespan", ...}, receive, send)` for the whole
life of the server. `startup()` puts `lifespan.startup` in its queue and
waits for `.complete` or `.failed`; `shutdown()` does the same for the
shutdown pair. The app's `state` dict is given to every request scope as a
shallow copy.

In mode "auto" an app that raises before it has received `lifespan.startup`
is taken not to support lifespan (many apps reject every scope type but
http): a debug line, and serving goes on. An app that received
`lifespan.startup` and then raised does support lifespan, and its startup
failed: serving a half-initialised app would only turn the failure into
errors on every request. In mode "on" both are startup failures.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from hurtle.asgi.types import LIFESPAN_ASGI, ASGIApp, ASGIViolation, Message
from hurtle.logs import error_log

__all__ = ["Lifespan", "LifespanFailed"]


class LifespanFailed(Exception):
    """Startup failed: the app said so, or raised."""


class Lifespan:
    def __init__(self, app: ASGIApp, mode: Literal["auto", "on", "off"]) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self._receive_queue: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsupported = False
        self._failure: str | None = None
        self._startup_received = False
        self._phase: Literal["startup", "shutdown"] = "startup"

    @property
    def active(self) -> bool:
        return self._task is not None and not self._unsupported

    async def startup(self) -> None:
        """Run the app's startup; raise LifespanFailed if it fails."""
        if self.mode == "off":
            return
        scope = {"type": "lifespan", "asgi": dict(LIFESPAN_ASGI), "state": self.state}
        self._task = asyncio.get_running_loop().create_task(self._main(scope))
        await self._receive_queue.put({"type": "lifespan.startup"})
        await self._startup_done.wait()
        if self._failure is not None:
            raise LifespanFailed(self._failure)

    async def shutdown(self, timeout: float | None = None) -> None:
        """Run the app's shutdown; failures are logged, never raised."""
        if not self.active or self._task is None or self._task.done():
            return
        if self._failure is not None:
            # Startup failed: the spec has no shutdown after startup.failed.
            self._task.cancel()
            return
        self._phase = "shutdown"
        await self._receive_queue.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self._shutdown_done.wait(), timeout)
        except TimeoutError:
            error_log.error("lifespan shutdown did not complete within %ss", timeout)
            self._task.cancel()
        if self._failure is not None and self._phase == "shutdown":
            error_log.error("lifespan shutdown failed: %s", self._failure)

    async def _main(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            # --asgi-strict logged its violation, with the app's line, when it found it.
            reported = isinstance(exc, ASGIViolation)
            if self._startup_done.is_set() and self._failure is not None:
                # It sent startup.failed, then raised (Starlette does): already reported.
                error_log.debug("lifespan handler raised after startup failed: %r", exc)
            elif self._startup_done.is_set() and self._phase == "startup":
                # The app's lifespan handler ended between startup and shutdown.
                if not reported:
                    error_log.error("lifespan handler raised after startup", exc_info=exc)
            elif not self._startup_received and self.mode == "auto":
                self._unsupported = True
                error_log.debug("ASGI app does not support lifespan (%r); going on", exc)
            elif self._phase == "startup":
                self._failure = f"{type(exc).__name__}: {exc}"
                if not reported:
                    error_log.error("Exception in lifespan startup", exc_info=exc)
            else:
                self._failure = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, Exception):
                raise
        finally:
            self._startup_done.set()
            self._shutdown_done.set()

    async def _receive(self) -> Message:
        message = await self._receive_queue.get()
        self._startup_received = True
        return message

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.complete" and self._phase == "startup":
            self._startup_done.set()
        elif kind == "lifespan.startup.failed" and self._phase == "startup":
            self._failure = str(message.get("message", "")) or "the app reported startup failure"
            self._startup_done.set()
        elif kind == "lifespan.shutdown.complete" and self._phase == "shutdown":
            self._shutdown_done.set()
        elif kind == "lifespan.shutdown.failed" and self._phase == "shutdown":
            self._failure = str(message.get("message", "")) or "the app reported shutdown failure"
            self._shutdown_done.set()
        else:
            raise RuntimeError(f"unexpected lifespan message {kind!r} during {self._phase}")
