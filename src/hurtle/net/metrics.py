"""The serving process's counters for --metrics-bind: plain integers on the hot path.

Why not prometheus-client's Counter objects: a labelled `inc()` looks the
child up by its label values and takes a lock; measured with timeit
(docs/metrics.md), it cost 20 to 50 times an integer increment. So requests are
counted here, and prometheus-client renders these numbers only when scraped
(hurtle/metrics/exposition.py). With metrics off, `ServerState.metrics` is
None and each counting site costs one `is not None` check.
"""

from __future__ import annotations

import asyncio
import ssl
from bisect import bisect_left
from typing import Any

from hurtle.metrics.snapshot import DURATION_BUCKETS, KNOWN_METHODS, Snapshot

__all__ = ["LoopLagProbe", "ServerMetrics", "count_handshake_failures"]

# How often the event loop's lag is sampled, in seconds.
LAG_INTERVAL = 0.5

# What each connection class serves, for the open-connections gauge.
_PROTOCOL_OF = {
    "H1Connection": "HTTP/1.1",
    "H2Connection": "HTTP/2",
    "WebSocketConnection": "WebSocket",
    "ProxyProtocolReader": "PROXY",
}


class ServerMetrics:
    """What one serving process counts; `snapshot()` for the exposition."""

    def __init__(self) -> None:
        # (method, status // 100, http_version) -> count
        self.requests: dict[tuple[str, int, str], int] = {}
        self.duration_buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.h1_received = 0
        self.h1_sent = 0
        self.h2_received = 0
        self.h2_sent = 0
        self.ws_received = 0
        self.ws_sent = 0
        self.ws_sessions = 0
        self.ws_messages_received = 0
        self.ws_messages_sent = 0
        self.rejected: dict[str, int] = {}
        self.tls_handshake_failures = 0
        self.loop_lag = 0.0

    def request_done(self, method: str, status: int, http_version: str, seconds: float) -> None:
        """One HTTP request is over (its app returned): count it and its duration."""
        if method not in KNOWN_METHODS:
            method = "other"
        key = (method, status // 100, http_version)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        self.duration_buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.duration_sum += seconds

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
                for (method, status_class, version), count in list(self.requests.items())
            },
            "duration_buckets": list(self.duration_buckets),
            "duration_sum": self.duration_sum,
            "bytes_received": {
                "HTTP/1.1": self.h1_received,
                "HTTP/2": self.h2_received,
                "WebSocket": self.ws_received,
            },
            "bytes_sent": {
                "HTTP/1.1": self.h1_sent,
                "HTTP/2": self.h2_sent,
                "WebSocket": self.ws_sent,
            },
            "websocket_sessions": self.ws_sessions,
            "websocket_messages": {
                "received": self.ws_messages_received,
                "sent": self.ws_messages_sent,
            },
            "rejected": dict(self.rejected),
            "tls_handshake_failures": self.tls_handshake_failures,
            "in_flight": in_flight,
            "connections": open_connections,
            "loop_lag": self.loop_lag,
        }


class LoopLagProbe:
    """Samples how late the event loop runs a timer: the time a callback waits for a
    loop that is busy (or blocked by an app) before it runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop, metrics: ServerMetrics) -> None:
        self.loop = loop
        self.metrics = metrics
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._due = self.loop.time() + LAG_INTERVAL
        self._timer = self.loop.call_at(self._due, self._sample)

    def _sample(self) -> None:
        self.metrics.loop_lag = max(0.0, self.loop.time() - self._due)
        self.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def count_handshake_failures(context: ssl.SSLContext, metrics: ServerMetrics) -> None:
    """Count failed TLS handshakes on connections made with `context`.

    asyncio (and uvloop) report a failed server-side handshake to nobody: the
    protocol's connection_made is never called, and the error is logged only
    in debug mode. Both drive the handshake through the context's
    `sslobject_class` (SSLContext.wrap_bio), so a subclass sees each failure
    as it is raised. Only TLS handshakes pay for it, and only with metrics on.
    """

    class CountingSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise  # The handshake goes on when more bytes arrive.
            except ssl.SSLError:
                metrics.tls_handshake_failures += 1
                raise

    context.sslobject_class = CountingSSLObject
