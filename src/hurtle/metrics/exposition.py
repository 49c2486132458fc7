"""Snapshots (metrics/snapshot.py) as Prometheus metric families, built on each scrape.

prometheus-client writes the text format (and OpenMetrics, gzip, HEAD) from
these families; hurtle only says what the numbers are. Every metric is
described in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from hurtle.metrics.snapshot import DURATION_BUCKETS, Scrape, add_counters, empty_counters

__all__ = ["ScrapeCollector", "families"]


def families(scrape: Scrape) -> Iterator[Metric]:
    counters = empty_counters()
    add_counters(counters, scrape.counters)

    requests = CounterMetricFamily(
        "hurtle_requests",
        "HTTP requests answered, by method, status class and protocol.",
        labels=["method", "status", "protocol"],
    )
    for key, count in sorted(counters["requests"].items()):
        method, status_class, version = key.split(" ")
        status = f"{status_class}xx" if status_class != "0" else "none"
        requests.add_metric([method, status, f"HTTP/{version}"], count)
    yield requests

    buckets = counters["duration_buckets"]
    cumulative = []
    running = 0
    for bound, count in zip((*DURATION_BUCKETS, float("inf")), buckets, strict=True):
        running += count
        cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
    yield HistogramMetricFamily(
        "hurtle_request_duration_seconds",
        "Time from a request's head to the end of its app, in seconds.",
        buckets=cumulative,
        sum_value=counters["duration_sum"],
    )

    yield _labelled_counter(
        "hurtle_received_bytes",
        "Bytes read from clients' connections, by protocol (after TLS).",
        "protocol",
        counters["bytes_received"],
    )
    yield _labelled_counter(
        "hurtle_sent_bytes",
        "Bytes written to clients' connections, by protocol (before TLS).",
        "protocol",
        counters["bytes_sent"],
    )
    yield CounterMetricFamily(
        "hurtle_websocket_sessions",
        "WebSocket handshakes accepted.",
        value=counters["websocket_sessions"],
    )
    yield _labelled_counter(
        "hurtle_websocket_messages",
        "WebSocket messages, by direction (received from clients, sent by apps).",
        "direction",
        counters["websocket_messages"],
    )
    yield _labelled_counter(
        "hurtle_rejected_requests",
        "Requests refused before an app saw them, by reason: the HTTP status (400, 408, 413, "
        "414, 431, 503), h2_protocol_error or h2_flood (the HTTP/2 connection was ended).",
        "reason",
        counters["rejected"],
    )
    yield CounterMetricFamily(
        "hurtle_tls_handshake_failures",
        "TLS handshakes that failed.",
        value=counters["tls_handshake_failures"],
    )

    labels = ["worker"] if any(worker is not None for worker, _ in scrape.gauges) else []
    in_flight = GaugeMetricFamily(
        "hurtle_requests_in_flight",
        "Requests and WebSocket sessions whose app is running.",
        labels=labels,
    )
    connections = GaugeMetricFamily(
        "hurtle_open_connections",
        "Open client connections, by protocol.",
        labels=[*labels, "protocol"],
    )
    lag = GaugeMetricFamily(
        "hurtle_event_loop_lag_seconds",
        "How late the event loop ran a timer at its last sample (every 0.5 s).",
        labels=labels,
    )
    for worker, gauges in scrape.gauges:
        worker_labels = [worker] if labels and worker is not None else []
        in_flight.add_metric(worker_labels, gauges.get("in_flight", 0))
        for protocol, count in sorted(gauges.get("connections", {}).items()):
            connections.add_metric([*worker_labels, protocol], count)
        lag.add_metric(worker_labels, gauges.get("loop_lag", 0.0))
    yield in_flight
    yield connections
    yield lag

    workers = scrape.workers
    if workers is not None:
        yield CounterMetricFamily(
            "hurtle_worker_starts", "Worker processes started.", value=workers.starts
        )
        yield _labelled_counter(
            "hurtle_worker_exits",
            "Worker processes that exited, by cause: stopped (asked to), crashed (exited "
            "unasked), killed (by hurtle: no heartbeat, no start in time, no stop in time), "
            "startup_failed.",
            "cause",
            workers.exits,
        )
        yield CounterMetricFamily(
            "hurtle_worker_heartbeat_kills",
            "Workers killed because their event loop stopped answering the heartbeat.",
            value=workers.heartbeat_kills,
        )
        yield GaugeMetricFamily(
            "hurtle_workers", "Worker processes serving now.", value=len(scrape.gauges)
        )


def _labelled_counter(
    name: str, documentation: str, label: str, counts: dict[str, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


class ScrapeCollector(Collector):
    """A prometheus-client collector that asks `source` for the numbers on every scrape."""

    def __init__(self, source: Callable[[], Scrape]) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return list(families(self.source()))
