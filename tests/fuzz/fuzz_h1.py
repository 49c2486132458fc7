"""Coverage-guided fuzzing of the HTTP/1.1 parser with atheris (libFuzzer).

Not collected by pytest (the file name does not start with test_). Run:

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz/fuzz_h1.py -max_total_time=300 -rss_limit_mb=2048

The input is cut into reads at points the fuzzer also chooses. The harness
fails (and libFuzzer saves the input) when `feed` raises, when anything is
parsed after a rejection, or when the same bytes mean something else when
cut differently.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from hurtle.wire.h1 import (
        BodyReceived,
        Event,
        H1Limits,
        H1Parser,
        RequestEnded,
        RequestReceived,
        RequestRejected,
    )

LIMITS = H1Limits(max_request_line=512, max_headers=16, max_header_bytes=2048, max_body=4096)


def meaning(events: list[Event]) -> list[object]:
    result: list[object] = []
    body = b""
    for event in events:
        if isinstance(event, RequestReceived):
            result.append((event.method, event.target, tuple(event.headers)))
        elif isinstance(event, BodyReceived):
            body += event.data
        elif isinstance(event, RequestEnded):
            result.append(body)
            body = b""
        elif isinstance(event, RequestRejected):
            result.append(("rejected", event.status))
    return result


def run(stream: bytes, cuts: list[int]) -> list[Event]:
    parser = H1Parser(LIMITS)
    events: list[Event] = []
    start = 0
    rejected = False
    for cut in [*sorted(c for c in cuts if 0 < c < len(stream)), len(stream)]:
        if cut <= start:
            continue
        new = parser.feed(stream[start:cut])
        if rejected and new:
            raise AssertionError("events after a rejection")
        rejected = rejected or any(isinstance(e, RequestRejected) for e in new)
        events += new
        start = cut
    return events


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    cuts = [provider.ConsumeIntInRange(0, 4096) for _ in range(provider.ConsumeIntInRange(0, 8))]
    stream = provider.ConsumeBytes(provider.remaining_bytes())
    whole = meaning(run(stream, []))
    split = meaning(run(stream, cuts))
    if whole != split:
        raise AssertionError(f"cutting the input changed its meaning: {whole!r} != {split!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
