"""The async claim, measured: 1,000 concurrent clients against a view that waits 50 ms.

The same view (benchmarks/apps/async_vs_threads.py) runs as an async ASGI app
on hurtle's event loop and as a sync WSGI app on hurtle's thread pool, with the
pool at its default size and larger. wrk keeps `--connections` requests in
flight for `--duration` seconds after a short warm-up; the table shows
requests per second, latency percentiles, and errors (wrk's socket errors and
timeouts, the most of any round), each the median of `--rounds` interleaved
rounds. The server is pinned to CPU 0 and wrk to CPU 1 when taskset is
there. Only 127.0.0.1 is used.

    python benchmarks/async_vs_threads.py                 # the table of docs/benchmarks.md
    python benchmarks/async_vs_threads.py --duration 5 --threads 32 200

wrk is Debian's package `wrk`: the script installs it with apt-get when it is
missing and it can (as root), else it stops and says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP_MODULE = "async_vs_threads"


@dataclass
class Result:
    label: str
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("wrk is missing: installing Debian's package 'wrk'", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("this benchmark needs wrk: install it (Debian/Ubuntu: apt-get install wrk)")


def pinned(cpu: int, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def start_server(app: str, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    argv = [
        sys.executable,
        "-m",
        "hurtle",
        f"{APP_MODULE}:{app}",
        "--app-dir",
        str(HERE / "apps"),
        "--port",
        "0",
        "--no-access-log",
        "--log-level",
        "info",
        *extra,
    ]
    process = subprocess.Popen(
        pinned(0, argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    for line in process.stdout:
        match = re.search(r"serving on (http://\S+)", line)
        if match:
            return process, match.group(1)
        if time.monotonic() > deadline:
            break
    process.kill()
    sys.exit(f"hurtle did not start for {app}")


def stop_server(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(wrk: str, url: str, connections: int, seconds: int, label: str) -> Result:
    argv = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "30s",
        "--latency",
        url,
    ]
    output = subprocess.run(
        pinned(1, argv), capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    percentiles = dict(re.findall(r"\b(50|90|99)%\s+([\d.]+(?:us|ms|s))\b", output))
    if len(percentiles) != 3:
        sys.exit(f"cannot read wrk's output:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors += int(non2xx.group(1)) if non2xx else 0
    return Result(
        label,
        rps,
        _ms(percentiles["50"]),
        _ms(percentiles["90"]),
        _ms(percentiles["99"]),
        total,
        errors,
    )


def measure(
    wrk: str, label: str, app: str, extra: list[str], connections: int, seconds: int
) -> Result:
    process, url = start_server(app, extra)
    try:
        run_wrk(wrk, url, connections, 3, label)  # warm-up: connections, threads, caches
        return run_wrk(wrk, url, connections, seconds, label)
    finally:
        stop_server(process)


def median(results: list[Result]) -> Result:
    """Each column's median over the rounds."""
    return Result(
        results[0].label,
        statistics.median(r.requests_per_second for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p90_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        int(statistics.median(r.requests for r in results)),
        max(r.errors for r in results),
    )


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    import hurtle

    try:
        loop = f"uvloop {version('uvloop')}"
    except PackageNotFoundError:
        loop = "asyncio"
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return (
        f"{os.cpu_count()} CPUs ({model}); {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; hurtle {hurtle.__version__} on {loop}; "
        f"{wrk_version.split(' [')[0].strip()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[32, 200, 1000], help="WSGI pool sizes"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds, interleaved; the table shows medians"
    )
    args = parser.parse_args()
    if not 1 <= args.duration <= 120 or not 1 <= args.rounds <= 10:
        sys.exit("--duration: 1 to 120 seconds; --rounds: 1 to 10")
    wrk = ensure_wrk()
    runs: list[tuple[str, str, list[str]]] = [("async ASGI view (await 50 ms)", "async_app", [])]
    for threads in args.threads:
        label = f"sync WSGI view (sleep 50 ms), --wsgi-threads {threads}"
        runs.append((label, "sync_app", ["--interface", "wsgi", "--wsgi-threads", str(threads)]))
    rounds: list[list[Result]] = [[] for _ in runs]
    for _ in range(args.rounds):
        for index, (label, app, extra) in enumerate(runs):
            rounds[index].append(measure(wrk, label, app, extra, args.connections, args.duration))
    results = [median(measured) for measured in rounds]
    print(
        f"\n{args.connections} concurrent connections, {args.duration} s each, median of "
        f"{args.rounds} round(s); {machine()}\n"
    )
    print("| view | requests/s | p50 | p90 | p99 | requests | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.label} | {r.requests_per_second:,.0f} | {r.p50_ms:,.0f} ms | "
            f"{r.p90_ms:,.0f} ms | {r.p99_ms:,.0f} ms | {r.requests:,} | {r.errors} |"
        )
    print(f"\nCommand: python benchmarks/async_vs_threads.py {' '.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
