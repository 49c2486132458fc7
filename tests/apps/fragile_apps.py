"""Apps for start-up behaviour of worker processes.

`fragile:app` fails to import while the file named by $FRAGILE_MARKER exists.
`threaded:app` starts a thread when it is imported and records which process
imported it in the file named by $IMPORT_MARKERS.
"""

from __future__ import annotations

import os
import threading

from apps.basic import respond
from hurtle.asgi.types import Receive, Scope, Send

if os.path.exists(os.environ.get("FRAGILE_MARKER", "/nonexistent")):
    raise RuntimeError("cannot start now")

_lock = threading.Lock()
_started = threading.Event()


def _hold_the_lock() -> None:
    # A thread that holds a lock at the moment of a fork would leave the
    # child's copy locked forever; a fresh interpreter has no such history.
    with _lock:
        _started.set()
        threading.Event().wait(0.2)


if os.environ.get("IMPORT_MARKERS"):
    with open(os.environ["IMPORT_MARKERS"], "a", encoding="ascii") as _handle:
        _handle.write(f"{os.getpid()}\n")
    threading.Thread(target=_hold_the_lock, daemon=True).start()
    _started.wait(5)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    with _lock:  # Would hang after a fork that copied the lock held.
        pass
    await respond(send, 200, str(os.getpid()).encode())
