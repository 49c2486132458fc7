"""--reload: watch source files with watchfiles and tell the supervisor what changed.

watchfiles (Rust `notify` underneath: inotify, FSEvents, or polling where
neither works) runs in a daemon thread, since its `watch()` blocks. The
thread only collects changed paths and writes a byte to a pipe; the
supervisor's own loop reads that pipe like any other event, so every
decision stays on the supervisor's thread.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from hurtle.config import ConfigError
from hurtle.supervise.channel import pipe, read_available, send

if TYPE_CHECKING:
    import watchfiles

__all__ = ["Reloader", "path_filter"]


def _matches(path: PurePath, pattern: str) -> bool:
    if "/" in pattern:
        return path.match(pattern)
    return fnmatch.fnmatch(path.name, pattern)


def path_filter(
    roots: Sequence[Path], include: Sequence[str], exclude: Sequence[str]
) -> Callable[[str], bool]:
    """Whether a changed path should restart the workers.

    A path is excluded when the file, or any directory between a watched root
    and it, matches an exclude glob; otherwise it counts when its name (or, for
    a glob with '/', the end of its path) matches an include glob.
    """

    def wanted(raw: str) -> bool:
        path = PurePath(raw)
        relative = path
        for root in roots:
            try:
                relative = path.relative_to(root)
                break
            except ValueError:
                continue
        for index in range(len(relative.parts)):
            part = PurePath(*relative.parts[: index + 1])
            if any(_matches(part, pattern) for pattern in exclude):
                return False
        return any(_matches(path, pattern) for pattern in include)

    return wanted


class Reloader:
    """Watches `dirs`; `fileno()` becomes readable when a wanted file changes."""

    def __init__(self, dirs: Sequence[str], include: Sequence[str], exclude: Sequence[str]):
        roots = [Path(d).resolve() for d in (dirs or ["."])]
        for root, given in zip(roots, dirs or ["."], strict=True):
            if not root.is_dir():
                raise ConfigError("--reload-dir", f"{given!r} is not a directory")
        self.roots = roots
        self._wanted = path_filter(roots, include, exclude)
        self._read, self._write = pipe()
        self._changes: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hurtle-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def fileno(self) -> int:
        return self._read

    def _filter(self) -> watchfiles.DefaultFilter:
        import watchfiles

        wanted = self._wanted

        class Filter(watchfiles.DefaultFilter):
            # DefaultFilter skips __pycache__, .git, node_modules, editor
            # backups and the like; the user's globs come on top of that.
            def __call__(self, change: watchfiles.Change, path: str) -> bool:
                return super().__call__(change, path) and wanted(path)

        return Filter()

    def _watch(self) -> None:
        import watchfiles

        for changes in watchfiles.watch(
            *self.roots,
            watch_filter=self._filter(),
            stop_event=self._stop,
            raise_interrupt=False,
            rust_timeout=500,
        ):
            with self._lock:
                self._changes.extend(path for _, path in changes)
            send(self._write, b"!")

    def take_changes(self) -> list[str]:
        """The changed paths since the last call, relative to a watched root when inside one."""
        read_available(self._read)
        with self._lock:
            changes, self._changes = self._changes, []
        return sorted({self._display(path) for path in changes})

    def _display(self, path: str) -> str:
        for root in self.roots:
            try:
                return os.path.relpath(path, root) if Path(path).is_relative_to(root) else path
            except ValueError:
                continue
        return path

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass
