"""The metrics endpoint: prometheus-client's HTTP server on a socket of its own.

It runs in a daemon thread, in the serving process (one process) or in the
supervisor (--workers): the apps' sockets and event loop never see a scrape,
and the library's server already speaks what scrapers ask for (the text
format or OpenMetrics, gzip, HEAD). A scrape reads plain integers written by
the event loop's thread; under the GIL each read is whole, and a scrape that
lands mid-request sees the counters a request apart, as any scrape may.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hurtle.config import parse_metrics_bind
from hurtle.exits import EXIT_ERROR, EXIT_USAGE, StartupError
from hurtle.metrics.snapshot import Scrape

__all__ = ["MetricsEndpoint", "require_client"]

INSTALL_HINT = "--metrics-bind needs the prometheus-client package: pip install 'hurtle[metrics]'"


def require_client() -> None:
    """Raise StartupError (a usage error) when prometheus-client is not installed."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise StartupError(INSTALL_HINT, EXIT_USAGE) from None


class MetricsEndpoint:
    """Serve the scrape of `source` on `bind` ('HOST:PORT') until `close()`."""

    def __init__(self, bind: str, source: Callable[[], Scrape]) -> None:
        require_client()
        from prometheus_client import CollectorRegistry, start_http_server

        from hurtle.metrics.exposition import ScrapeCollector

        host, port = parse_metrics_bind(bind)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(ScrapeCollector(source))
        try:
            started: Any = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise StartupError(f"cannot serve metrics on {bind}: {exc}", EXIT_ERROR) from None
        self._server, self._thread = started
        self.address: tuple[Any, ...] = tuple(self._server.server_address)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        thread: threading.Thread = self._thread
        thread.join(timeout=5)
