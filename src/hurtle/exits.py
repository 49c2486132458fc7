"""The process exit codes, and the error that carries one out of a failed start.

One module, imported by the single-process server, the supervisor and each
worker, so that a code means the same wherever the process ended. README.md
lists them for users.
"""

from __future__ import annotations

import sys

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_STARTUP_FAILED",
    "EXIT_USAGE",
    "StartupError",
    "report_startup_error",
]

EXIT_OK = 0
# The app cannot be imported, an address cannot be bound, a pid file is taken.
EXIT_ERROR = 1
# A bad option value, flag or configuration file.
EXIT_USAGE = 2
# The app's lifespan startup failed (with workers: every worker of the first start).
EXIT_STARTUP_FAILED = 3


class StartupError(Exception):
    """Serving could not start; `exit_code` says why, the message says it to the user."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def report_startup_error(exc: StartupError, traceback_shown: bool) -> None:
    """Print why serving could not start: one line, and where in the user's code it failed.

    `traceback_shown`: the whole traceback went to the log already (--log-level
    debug, or --reload); else the place it was raised (importer.py's `where`)
    follows the line, with a hint that the flag shows more.
    """
    lines = [f"hurtle: error: {exc}"]
    where = getattr(exc.__cause__, "where", None)
    if where and not traceback_shown:
        lines += [where, "  (--log-level debug shows the whole traceback)"]
    print("\n".join(lines), file=sys.stderr, flush=True)
