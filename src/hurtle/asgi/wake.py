"""The waiting side of an ASGI cycle: one `receive()` asleep until the connection feeds it.

A module of its own because setup.py compiles it with mypyc, with
asgi/http.py: `HTTPCycle` (compiled) and `WebSocketCycle` (interpreted) both
inherit `Wakeable`, which mypyc allows only when told
(`allow_interpreted_subclasses`).
"""

from __future__ import annotations

import asyncio

from mypy_extensions import mypyc_attr

__all__ = ["Wakeable"]


@mypyc_attr(allow_interpreted_subclasses=True)
class Wakeable:
    """One coroutine (the app's `receive`) waiting for the connection to feed it.

    The connection calls `_wake()` after each feed; `receive` loops on
    `await self._sleep()` until what it waits for is there.
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

    async def _sleep(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        await waiter
