"""Many worker processes: a supervisor, restarts, rolling reloads, --reload.

- supervisor.py: the supervisor's loop: sockets, signals, reconciling workers.
- process.py:    one worker as the supervisor sees it (spawn, state, exit).
- worker.py:     the worker process itself (`python -m hurtle.supervise.worker`).
- channel.py:    the pipes between them: readiness, heartbeat, retire, recycle.
- reload.py:     --reload's file watcher (watchfiles).
- error_page.py: --reload's 503 with the import error, while no worker can start.
- pidfile.py:    --pid FILE.

Nothing here is imported by a single-process server except `pid_file`.
"""

from __future__ import annotations

from typing import Any

from hurtle.config import Config
from hurtle.exits import EXIT_ERROR, EXIT_USAGE
from hurtle.supervise.pidfile import PidFileError, pid_file

__all__ = ["PidFileError", "needs_supervisor", "pid_file", "supervise"]

DEMO_APP = "hurtle.demo.app:app"


def needs_supervisor(config: Config) -> bool:
    """Whether the config asks for worker processes (else one process serves)."""
    return config.workers > 1 or config.reload or config.max_requests is not None


def supervise(config: Config, app: Any = None) -> int:
    """Run the supervisor and its workers until stopped; returns the exit code."""
    import sys

    from hurtle.supervise.supervisor import Supervisor

    spec = app if app is not None else (config.app or DEMO_APP)
    if not isinstance(spec, str):
        print(
            "hurtle: error: --workers, --reload and --max-requests start worker processes, "
            "which import the app themselves: give it as an import string "
            "('module:attribute'), not as an object",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        with pid_file(config.pid):
            return Supervisor(config, spec).run()
    except PidFileError as exc:
        print(f"hurtle: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
