"""What --metrics-bind learns off the request path: event-loop lag and failed TLS handshakes.

Kept apart from net/metrics.py, which mypyc compiles: these probes run a few
times a second (or once per failed handshake) and one subclasses ssl.SSLObject
inside a function, which a compiled module cannot hold.
"""

from __future__ import annotations

import asyncio
import ssl

from hurtle.net.metrics import ServerMetrics

__all__ = ["LoopLagProbe", "count_handshake_failures"]

# How often the event loop's lag is sampled, in seconds.
LAG_INTERVAL = 0.5


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
