"""The process exit codes, and the error that carries one out of a failed start.

One module, imported by the single-process server, the supervisor and each
worker, so that a code means the same wherever the process ended. README.md
lists them for users.
"""

from __future__ import annotations

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_STARTUP_FAILED", "EXIT_USAGE", "StartupError"]

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
