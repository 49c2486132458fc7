"""--metrics-bind with workers: one endpoint, in the supervisor, for the whole server.

Each worker counts in its own process (net/metrics.py) and, at every
heartbeat PING (at least once a second) and when it exits, writes a snapshot
of its counters to `<directory>/<pid>.json` (replaced whole, never half
written). A scrape adds up the snapshots of the workers there are and the
counters of the workers that have exited, which the supervisor folds in when
it reaps each one, so the counters never go back. Gauges are shown per
worker (label `worker`, the pid).

Why files and not the pipes (channel.py): the pipes carry one-byte messages
that need no framing, and a scrape, served on a thread of its own, reads the
files without involving the supervisor's loop. A worker killed with SIGKILL
loses what it counted since its last snapshot: at most a heartbeat's worth.
Why not prometheus-client's multiprocess mode: it writes to an mmap file on
every increment, behind a lock, and the request path keeps plain integers
(net/metrics.py).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading

from hurtle.metrics.endpoint import MetricsEndpoint
from hurtle.metrics.snapshot import Scrape, Snapshot, WorkerEvents, add_counters, empty_counters

__all__ = ["WorkerMetrics", "write_snapshot"]


def write_snapshot(directory: str, snapshot: Snapshot) -> None:
    """Write a worker's snapshot where the supervisor reads it (called by the worker)."""
    path = os.path.join(directory, f"{os.getpid()}.json")
    temporary = path + ".tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(snapshot, file)
        os.replace(temporary, path)
    except OSError:
        pass  # The supervisor has gone (and removed the directory), or the disk is full.


class WorkerMetrics:
    """The supervisor's side: the snapshots' directory, the exited workers' counts, the
    worker events, and the endpoint."""

    def __init__(self, bind: str) -> None:
        self.directory = tempfile.mkdtemp(prefix="hurtle-metrics-")
        self.exited = empty_counters()
        self.events = WorkerEvents()
        self._lock = threading.Lock()  # The scrape's thread and the supervisor's loop.
        try:
            self.endpoint = MetricsEndpoint(bind, self.scrape)
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    def worker_started(self) -> None:
        with self._lock:
            self.events.starts += 1

    def worker_exited(self, pid: int, cause: str, heartbeat_kill: bool) -> None:
        """Fold the worker's last snapshot into the exited workers' counts."""
        path = os.path.join(self.directory, f"{pid}.json")
        with self._lock:
            snapshot = _read(path)
            if snapshot is not None:
                add_counters(self.exited, snapshot)
            for leftover in (path, path + ".tmp"):
                try:
                    os.unlink(leftover)
                except OSError:
                    pass
            self.events.exits[cause] = self.events.exits.get(cause, 0) + 1
            if heartbeat_kill:
                self.events.heartbeat_kills += 1

    def scrape(self) -> Scrape:
        with self._lock:
            counters = empty_counters()
            add_counters(counters, self.exited)
            gauges: list[tuple[str | None, Snapshot]] = []
            for name in sorted(os.listdir(self.directory)):
                if not name.endswith(".json"):
                    continue
                snapshot = _read(os.path.join(self.directory, name))
                if snapshot is not None:
                    add_counters(counters, snapshot)
                    gauges.append((name.removesuffix(".json"), snapshot))
            events = WorkerEvents(
                self.events.starts, dict(self.events.exits), self.events.heartbeat_kills
            )
        return Scrape(counters, gauges, events)

    def close(self) -> None:
        self.endpoint.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _read(path: str) -> Snapshot | None:
    try:
        with open(path, encoding="utf-8") as file:
            snapshot = json.load(file)
    except (OSError, ValueError):
        return None
    return snapshot if isinstance(snapshot, dict) else None
