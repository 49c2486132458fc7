"""--pid FILE: the server's process id in a file, for init scripts and `kill -HUP`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["PidFileError", "pid_file"]


class PidFileError(OSError):
    """The pid file could not be written; the message is for the user."""


@contextlib.contextmanager
def pid_file(path: str | None) -> Iterator[None]:
    """Write this process's id to `path` for the duration of the block.

    The file is written to a temporary name and renamed, so a reader never
    sees it half-written. On exit it is removed, unless another process has
    written its own id there meanwhile (a second server started by mistake).
    """
    if path is None:
        yield
        return
    pid = str(os.getpid())
    temporary = f"{path}.{pid}.tmp"
    try:
        with open(temporary, "w", encoding="ascii") as handle:
            handle.write(pid + "\n")
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise PidFileError(f"--pid {path}: cannot write it ({exc.strerror or exc})") from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            with open(path, encoding="ascii") as handle:
                still_ours = handle.read().strip() == pid
            if still_ours:
                os.unlink(path)
