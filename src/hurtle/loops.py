"""Which event loop a serving process runs (--loop): uvloop when there, else asyncio's.

A leaf module: the single-process server and each worker process choose
their loop here before any loop runs, without importing each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hurtle.config import ConfigError

__all__ = ["loop_factory"]


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory of the event loop that `--loop NAME` asks for.

    "auto" takes uvloop when it is installed and asyncio's loop otherwise;
    "uvloop" insists on uvloop (a ConfigError if it is missing).
    """
    if name in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise ConfigError("--loop", "uvloop is not installed") from None
        else:
            factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
            return factory
    return asyncio.new_event_loop
