"""--metrics-bind with --workers: the supervisor's one endpoint adds up every worker,
keeps the counts of workers that exited, and counts starts and exits by cause."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable

import httpx

from metrics_support import metrics_url, promtool_check, samples, scrape, total, value
from supervision import Supervised, children, wait_until

APP = "apps.metrics_apps:app"


def test_one_endpoint_adds_up_the_workers(supervised: Callable[..., Supervised]) -> None:
    server = supervised(APP, "--workers", "2", "--metrics-bind", "127.0.0.1:0")
    workers = server.wait_workers(2)
    endpoint = metrics_url(lambda: server.output)
    for _ in range(30):
        # A connection each, so that both workers take some.
        with httpx.Client(timeout=10) as client:
            assert client.get(f"{server.url}/status?200").status_code == 200
    # Workers report at each heartbeat (once a second here).
    wait_until(
        lambda: total(samples(scrape(endpoint)), "hurtle_requests_total") == 30,
        10,
        "30 requests in the scrape",
    )
    text = scrape(endpoint)
    promtool_check(text)
    found = samples(text)
    assert (
        value(found, "hurtle_requests_total", method="GET", status="2xx", protocol="HTTP/1.1") == 30
    )
    assert value(found, "hurtle_worker_starts_total") == 2
    assert value(found, "hurtle_workers") == 2
    for pid in workers:
        assert ("hurtle_requests_in_flight", frozenset({("worker", str(pid))})) in found

    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: victim not in children(server.pid) and len(server.ready_workers()) == 2,
        15,
        "a replacement",
    )
    wait_until(
        lambda: value(samples(scrape(endpoint)), "hurtle_worker_exits_total", cause="crashed") == 1,
        10,
        "the crash in the scrape",
    )
    found = samples(scrape(endpoint))
    assert value(found, "hurtle_worker_starts_total") == 3
    # The killed worker's requests are still counted.
    assert total(found, "hurtle_requests_total") == 30
    assert ("hurtle_requests_in_flight", frozenset({("worker", str(victim))})) not in found


def test_a_heartbeat_kill_is_counted(supervised: Callable[..., Supervised]) -> None:
    server = supervised(
        "apps.worker_apps:app",
        "--workers",
        "2",
        "--timeout-worker-healthcheck",
        "1.5",
        "--metrics-bind",
        "127.0.0.1:0",
    )
    server.wait_workers(2)
    endpoint = metrics_url(lambda: server.output)
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as stuck:
        stuck.sendall(b"GET /block?60 HTTP/1.1\r\nHost: test\r\n\r\n")  # Blocks a worker's loop.
        wait_until(
            lambda: value(samples(scrape(endpoint)), "hurtle_worker_heartbeat_kills_total") == 1,
            20,
            "the heartbeat kill in the scrape",
        )
    found = samples(scrape(endpoint))
    assert value(found, "hurtle_worker_exits_total", cause="killed") == 1
    assert value(found, "hurtle_worker_exits_total", cause="crashed") == 0
