"""--blocking-warn-after in every worker: each watches its own event loop."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from supervision import Supervised

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

APP = "apps.worker_apps:app"
_WARNED = re.compile(r"event loop blocked for .* serving GET /block \(pid (\d+)\)")


def test_each_worker_reports_its_own_blocked_loop(supervised: Callable[..., Supervised]) -> None:
    server = supervised(APP, "--workers", "2", "--blocking-warn-after", "0.3")
    workers = server.wait_workers(2)
    url = f"http://127.0.0.1:{server.port}/block?0.8"

    def block() -> None:
        httpx.get(url, headers={"connection": "close"}, timeout=10)

    warned: set[int] = set()
    for _ in range(6):  # Bounded: a round takes about a second.
        # The first request blocks one worker's loop, which then accepts
        # nothing: the second, a moment later, is the other worker's.
        first = threading.Thread(target=block)
        first.start()
        time.sleep(0.15)
        block()
        first.join(10)
        warned = {int(pid) for pid in _WARNED.findall(server.output)}
        if warned == workers:
            break
    assert warned == workers, server.output
    assert "time.sleep(seconds)" in server.output  # The line that blocks, in worker_apps.py.
