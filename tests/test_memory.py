"""A worker's memory: --malloc-trim-threshold, and what is imported only when needed.

--malloc-trim-threshold: a burst of large bodies does not page-fault the heap back in each time.

Counted in page faults (getrusage), not time: 20 bursts of 8 MiB of 64 KiB
objects cost about 16 faults per object when glibc trims the heap top after
each burst (its default), and none once the threshold is above the burst.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import httpx
import pytest

from support import REPO, ServerProcess

PAGES_PER_ROUND = 128 * 65536 // 4096  # 2,048: what a trimmed heap faults back in per burst

glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the tuning is for glibc's malloc"
)


def faults_in_fresh_process(trim_threshold: int) -> int:
    code = (
        "import sys; from hurtle.memory import tune_malloc; "
        "from apps.memory_apps import faults_over_bursts; "
        f"tuned = tune_malloc({trim_threshold}); "
        f"assert tuned == {trim_threshold != 0}; "
        "print(faults_over_bursts())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO / "tests",
        check=True,
    )
    return int(done.stdout)


@glibc_only
def test_glibc_defaults_fault_the_burst_back_in_and_the_tuning_does_not() -> None:
    assert faults_in_fresh_process(0) > 10 * PAGES_PER_ROUND  # 20 rounds, ~2,048 each
    assert faults_in_fresh_process(32 * 1024 * 1024) < PAGES_PER_ROUND


@glibc_only
@pytest.mark.parametrize(
    ("args", "expect_tuned"),
    [([], True), (["--malloc-trim-threshold", "0"], False)],
)
def test_the_server_process_is_tuned_by_default_and_0_leaves_glibc_alone(
    args: list[str], expect_tuned: bool
) -> None:
    server = ServerProcess(["apps.memory_apps:app", "--port", "0", *args])
    try:
        url = server.wait_ready()
        faults = int(httpx.get(url + "/", timeout=30).text)
    finally:
        server.stop()
    if expect_tuned:
        assert faults < PAGES_PER_ROUND
    else:
        assert faults > 10 * PAGES_PER_ROUND


def test_a_server_that_has_seen_no_websocket_has_not_imported_the_library() -> None:
    """The websockets library is imported at the first upgrade: ~2 MiB less per idle worker."""
    code = (
        "import sys, hurtle, hurtle.server, hurtle.cli, hurtle.net.connection; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'websockets' "
        "or m in ('hurtle.wire.ws', 'hurtle.net.websocket')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
