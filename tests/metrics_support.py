"""Reading hurtle's metrics endpoint in tests: its address from the log, a scrape
checked by promtool and parsed by prometheus-client's parser."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support import debian_tool, wait_for

_ENDPOINT = re.compile(r"metrics on (http://\S+)")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_url(output: Callable[[], str]) -> str:
    """The endpoint's URL, from the line hurtle logs when it serves it."""
    wait_for(lambda: _ENDPOINT.search(output()) is not None, timeout=15)
    match = _ENDPOINT.search(output())
    assert match is not None
    return match.group(1)


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def promtool_check(text: str) -> None:
    """`promtool check metrics`: the exposition is valid and follows the naming rules."""
    promtool = debian_tool("promtool", "prometheus")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr


def samples(text: str) -> Samples:
    """Every sample as {(name, labels): value}."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a counter not seen yet)."""
    return found.get((name, frozenset(labels.items())), 0.0)


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)
