"""What a serving process reports: a snapshot of its counters, as plain JSON-able data.

One serving process renders its own snapshot; with --workers each worker
writes its snapshot to a file (supervise/worker.py) and the supervisor adds
them up (supervise/metrics.py). Counters add across workers; gauges
(requests in flight, open connections, loop lag) are per worker.

The keys of a snapshot:

    requests           {"METHOD STATUS-CLASS HTTP-VERSION": count}, e.g. "GET 2 1.1"
    duration_buckets   [count per DURATION_BUCKETS bound, then count above the last]
    duration_sum       seconds, float
    bytes_received     {protocol: bytes}    bytes_sent  {protocol: bytes}
    websocket_sessions count                websocket_messages {"received"/"sent": count}
    rejected           {reason: count}      tls_handshake_failures  count
    in_flight, connections {protocol: n}, loop_lag (seconds): the gauges
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COUNTERS",
    "DURATION_BUCKETS",
    "GAUGES",
    "KNOWN_METHODS",
    "Scrape",
    "Snapshot",
    "WorkerEvents",
    "add_counters",
    "empty_counters",
]

Snapshot = dict[str, Any]

# Seconds; a request's duration falls in the first bucket whose bound it does
# not exceed (Prometheus' `le`).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Methods counted by name; any other is counted as "other", so that a client
# cannot grow the label set (HTTP/2 accepts any token as a method).
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
)

# The counters of a snapshot and their empty values; the rest are gauges.
COUNTERS: dict[str, Any] = {
    "requests": {},
    "duration_buckets": [0] * (len(DURATION_BUCKETS) + 1),
    "duration_sum": 0.0,
    "bytes_received": {},
    "bytes_sent": {},
    "websocket_sessions": 0,
    "websocket_messages": {},
    "rejected": {},
    "tls_handshake_failures": 0,
}
GAUGES = ("in_flight", "connections", "loop_lag")


def empty_counters() -> Snapshot:
    return {key: _copy(value) for key, value in COUNTERS.items()}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def add_counters(total: Snapshot, snapshot: Snapshot) -> None:
    """Add the counters of `snapshot` into `total` (gauges are left out)."""
    for key in COUNTERS:
        value = snapshot.get(key)
        if value is None:
            continue
        if isinstance(value, dict):
            into = total[key]
            for name, count in value.items():
                into[name] = into.get(name, 0) + count
        elif isinstance(value, list):
            into_list = total[key]
            for index, count in enumerate(value[: len(into_list)]):
                into_list[index] += count
        else:
            total[key] += value


@dataclass
class WorkerEvents:
    """What the supervisor counts of its workers (supervise/supervisor.py)."""

    starts: int = 0
    exits: dict[str, int] = field(default_factory=dict)
    heartbeat_kills: int = 0


@dataclass
class Scrape:
    """What one scrape shows: the counters of every worker that ever served (summed),
    the gauges of each serving process (by worker label, None for a single process),
    and the supervisor's own counts when there is one."""

    counters: Snapshot
    gauges: list[tuple[str | None, Snapshot]]
    workers: WorkerEvents | None = None
