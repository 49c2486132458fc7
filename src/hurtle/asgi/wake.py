"""The waiting side of an ASGI cycle: one `receive()` asleep until the connection feeds it.

A module of its own because setup.py compiles it with mypyc: the synchronous
half of the HTTP cycle (asgi/http_core.py, compiled) and `WebSocketCycle`
(interpreted) both inherit `Wakeable`, which mypyc allows only when told
(`allow_interpreted_subclasses`). It defines no coroutine: a compiled
coroutine that is cancelled while it awaits passes the cancellation on with
the (type, value, traceback) form of throw(), deprecated since Python 3.12
(mypyc issue 1214). The cycles' own coroutines await `_new_waiter()`.
"""

from __future__ import annotations

import asyncio

from mypy_extensions import mypyc_attr

__all__ = ["Wakeable"]


@mypyc_attr(allow_interpreted_subclasses=True)
class Wakeable:
    """One coroutine (the app's `receive`) waiting for the connection to feed it.

    The connection calls `_wake()` after each feed; `receive` loops on
    `await self._new_waiter()` until what it waits for is there.
    """

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _new_waiter(self) -> asyncio.Future[None]:
        """The future the next `_wake()` resolves: await it."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter
