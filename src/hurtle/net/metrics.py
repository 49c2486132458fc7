"""The serving process's counters for --metrics-bind: plain integers on the hot path.

Compiled with mypyc (hurtle/_pure.py), so that a counting site in the compiled
connection code is a field update in C, not an attribute lookup through an
interpreted object; the loop-lag and TLS-handshake probes, which run off the
request path, are in net/metrics_probes.py.

Why not prometheus-client's Counter objects: a labelled `inc()` looks the
child up by its label values and takes a lock; measured with timeit
(docs/metrics.md), it cost 20 to 50 times an integer increment. So requests are
counted here, and prometheus-client renders these numbers only when scraped
(hurtle/metrics/exposition.py). With metrics off, `ServerState.metrics` is
None and each counting site costs one `is not None` check.
"""

from __future__ import annotations

from typing import Any

from hurtle.metrics.snapshot import DURATION_BUCKETS, KNOWN_METHODS, Snapshot
from hurtle.net.websocket_counters import WebSocketCounters

__all__ = ["ServerMetrics"]

# What each connection class serves, for the open-connections gauge.
_PROTOCOL_OF = {
    "H1Connection": "HTTP/1.1",
    "H2Connection": "HTTP/2",
    "WebSocketConnection": "WebSocket",
    "ProxyProtocolReader": "PROXY",
}


# Status classes counted apart: 0 (the app ended before any response) to 9.
_STATUS_CLASSES = 10


class ServerMetrics:
    """What one serving process counts; `snapshot()` for the exposition."""

    def __init__(self) -> None:
        # http_version -> method -> count per status class (status // 100).
        # Nested dicts of strings, not one dict keyed by a (method, class,
        # version) tuple: a string caches its hash and these are looked up by
        # the very objects stored as keys, where a tuple key is built, hashed
        # and compared element by element twice per request.
        self._requests: dict[str, dict[str, list[int]]] = {}
        self.duration_buckets = [0] * (len(DURATION_BUCKETS) + 1)
        # A list of the bounds, held here: compiled, indexing it reads a float in
        # place, where the imported tuple is looked up and unpacked at each use.
        self._bounds: list[float] = list(DURATION_BUCKETS)
        self.duration_sum = 0.0
        self.h1_received = 0
        self.h1_sent = 0
        self.h2_received = 0
        self.h2_sent = 0
        # Counted by interpreted code, so on a plain object (net/websocket_counters.py).
        self.websocket = WebSocketCounters()
        self.rejected: dict[str, int] = {}
        self.tls_handshake_failures = 0
        self.loop_lag = 0.0

    def request_done(self, method: str, status: int, http_version: str, seconds: float) -> None:
        """One HTTP request is over (its app returned): count it and its duration."""
        by_method = self._requests.get(http_version)
        counts = by_method.get(method) if by_method is not None else None
        if counts is None:
            counts = self._counts_for(method, http_version)
        status_class = status // 100
        counts[status_class if status_class < _STATUS_CLASSES else _STATUS_CLASSES - 1] += 1
        # The first bucket whose bound the duration does not exceed (Prometheus'
        # `le`). A linear scan, not bisect: nearly every request ends within the
        # first bounds, so this is a float comparison or two, not a call.
        bounds = self._bounds
        last = len(bounds)
        bucket = 0
        while bucket < last and seconds > bounds[bucket]:
            bucket += 1
        self.duration_buckets[bucket] += 1
        self.duration_sum += seconds

    def _counts_for(self, method: str, http_version: str) -> list[int]:
        """The counts of a method and version met for the first time (or not known).

        A method outside KNOWN_METHODS is counted as "other" and never becomes
        a key, so a client cannot grow the label set.
        """
        by_method = self._requests.setdefault(http_version, {})
        if method not in KNOWN_METHODS:
            method = "other"
        counts = by_method.get(method)
        if counts is None:
            counts = by_method[method] = [0] * _STATUS_CLASSES
        return counts

    def reject(self, reason: str) -> None:
        """A request refused before any app saw it (or by --limit-concurrency)."""
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def snapshot(self, in_flight: int, connections: Any) -> Snapshot:
        open_connections: dict[str, int] = {}
        for connection in list(connections):
            protocol = _PROTOCOL_OF.get(type(connection).__name__, "other")
            open_connections[protocol] = open_connections.get(protocol, 0) + 1
        return {
            "requests": {
                f"{method} {status_class} {version}": count
                for version, by_method in list(self._requests.items())
                for method, counts in list(by_method.items())
                for status_class, count in enumerate(counts)
                if count
            },
            "duration_buckets": list(self.duration_buckets),
            "duration_sum": self.duration_sum,
            "bytes_received": {
                "HTTP/1.1": self.h1_received,
                "HTTP/2": self.h2_received,
                "WebSocket": self.websocket.bytes_received,
            },
            "bytes_sent": {
                "HTTP/1.1": self.h1_sent,
                "HTTP/2": self.h2_sent,
                "WebSocket": self.websocket.bytes_sent,
            },
            "websocket_sessions": self.websocket.sessions,
            "websocket_messages": {
                "received": self.websocket.messages_received,
                "sent": self.websocket.messages_sent,
            },
            "rejected": dict(self.rejected),
            "tls_handshake_failures": self.tls_handshake_failures,
            "in_flight": in_flight,
            "connections": open_connections,
            "loop_lag": self.loop_lag,
        }
