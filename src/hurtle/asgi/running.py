"""The one way an ASGI cycle runs its app, for HTTP and WebSocket alike.

asgiref specs/main.rst: the app is awaited with the cycle's scope, receive
and send. What its end means is each cycle's rule (`_app_returned`,
`_app_failed`: a 500 or a reset, a 500 denial or close 1011); that it is
told, exactly once, and that a cancellation or KeyboardInterrupt still
propagates after the cycle answered, is the same for every protocol and
lives here. A mixin without state, so that the compiled HTTP core and the
interpreted WebSocket cycle can both take it.
"""

from __future__ import annotations

from typing import Any

from hurtle.asgi.types import ASGIApp, Message

__all__ = ["RunsApp"]


class RunsApp:
    __slots__ = ()

    scope: Any

    async def receive(self) -> Message:
        raise NotImplementedError

    async def send(self, message: Message) -> None:
        raise NotImplementedError

    def _app_returned(self) -> None:
        raise NotImplementedError

    def _app_failed(self, exc: BaseException) -> None:
        raise NotImplementedError

    def _cycle_over(self) -> None:
        raise NotImplementedError

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            self._app_failed(exc)
            if not isinstance(exc, Exception):
                raise  # CancelledError, KeyboardInterrupt: let them through.
        else:
            self._app_returned()
        finally:
            self._cycle_over()
