"""The event loop of the in-process connection and state tests: a ClockLoop per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from clock_loop import ClockLoop


@pytest.fixture
def loop() -> Iterator[ClockLoop]:
    loop = ClockLoop()
    try:
        yield loop
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.spin()
        loop.close()
