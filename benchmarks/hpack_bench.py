"""HPACK micro-benchmark: hurtle's codec (src/hurtle/wire/hpack.py) against the `hpack` library.

What a server does per request on HTTP/2, in isolation:

- decode cold: the first request of a connection, a fresh decoder, the
  block h2load (nghttp2 1.52.0) sends first: five fields, two Huffman
  literals (:authority, user-agent) that join the dynamic table;
- decode warm: a later request of the same connection, the block h2load
  sends then: five one-octet indexes (static and dynamic);
- encode cold / warm: a typical response head (:status, content-type,
  content-length, date, server) on a fresh encoder, then on a warm one.

Both blocks were captured from `h2load -n 3 -c 1 -m 1` against a local
server. Each figure is the median of --repeats runs of --number operations,
in microseconds an operation. "hurtle via h2" is the adapter wire/h2.py
gives h2 (the error translation around the same decoder).

    .venv/bin/python benchmarks/hpack_bench.py
    HURTLE_PURE_PYTHON=1 .venv/bin/python benchmarks/hpack_bench.py   # hurtle uncompiled
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import hpack

from hurtle._pure import compiled_modules, install_if_asked

install_if_asked()

from hurtle.wire import hpack as hurtle_hpack  # noqa: E402
from hurtle.wire.h2 import _HpackDecoder  # noqa: E402

# h2load's first request block and a later one (h2load nghttp2/1.52.0):
# :path /, :scheme http, :authority 127.0.0.1:46319, :method GET,
# user-agent h2load nghttp2/1.52.0.
COLD_REQUEST = bytes.fromhex("8486418b089d5c0b8170dc69c642ff827a8f9c541c722954d3a5358980aed89707")
WARM_REQUEST = bytes.fromhex("8486bf82be")
RESPONSE = [
    (b":status", b"200"),
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"13"),
    (b"date", b"Sat, 05 Dec 2026 08:00:00 GMT"),
    (b"server", b"hurtle"),
]


def per_operation(run: Callable[[int], None], number: int, repeats: int) -> float:
    """The median over `repeats` of the time of `run(number)`, in µs an operation."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run(number)
        times.append((time.perf_counter_ns() - start) / number / 1000)
    return statistics.median(times)


def timed_cold(
    make: Callable[[], object], decode: Callable[[object, bytes], object], number: int, repeats: int
) -> float:
    """Cold decoding: fresh decoders made beforehand, only the decoding timed."""
    times = []
    for _ in range(repeats):
        decoders = [make() for _ in range(number)]
        start = time.perf_counter_ns()
        for decoder in decoders:
            decode(decoder, COLD_REQUEST)
        times.append((time.perf_counter_ns() - start) / number / 1000)
    return statistics.median(times)


def timed_encode_cold(
    make: Callable[[], object],
    encode: Callable[[object, list[tuple[bytes, bytes]]], object],
    number: int,
    repeats: int,
) -> float:
    times = []
    for _ in range(repeats):
        encoders = [make() for _ in range(number)]
        start = time.perf_counter_ns()
        for encoder in encoders:
            encode(encoder, RESPONSE)
        times.append((time.perf_counter_ns() - start) / number / 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    number, repeats = args.number, args.repeats

    compiled = "hurtle.wire.hpack" in compiled_modules()
    ours_name = "hurtle (compiled)" if compiled else "hurtle (pure Python)"

    def ours_decode(decoder: object, block: bytes) -> object:
        assert isinstance(decoder, hurtle_hpack.Decoder)
        return decoder.decode(block)

    def adapter_decode(decoder: object, block: bytes) -> object:
        assert isinstance(decoder, _HpackDecoder)
        return decoder.decode(block, raw=True)

    def theirs_decode(decoder: object, block: bytes) -> object:
        assert isinstance(decoder, hpack.Decoder)
        return decoder.decode(block, raw=True)

    def ours_encode(encoder: object, headers: list[tuple[bytes, bytes]]) -> object:
        assert isinstance(encoder, hurtle_hpack.Encoder)
        return encoder.encode(headers)

    def theirs_encode(encoder: object, headers: list[tuple[bytes, bytes]]) -> object:
        assert isinstance(encoder, hpack.Encoder)
        return encoder.encode(headers)

    rows: list[tuple[str, str, float]] = []
    decoders: list[tuple[str, Callable[[], object], Callable[[object, bytes], object]]] = [
        (ours_name, hurtle_hpack.Decoder, ours_decode),
        (ours_name + " via h2", _HpackDecoder, adapter_decode),
        (f"hpack {hpack.__version__}", hpack.Decoder, theirs_decode),
    ]
    for name, make, decode in decoders:
        rows.append(
            ("decode cold (h2load, 1st request)", name, timed_cold(make, decode, number, repeats))
        )
        warm = make()
        decode(warm, COLD_REQUEST)
        assert decode(warm, WARM_REQUEST) == decode(make(), COLD_REQUEST)

        def run_warm(
            count: int, warm: object = warm, decode: Callable[[object, bytes], object] = decode
        ) -> None:
            for _ in range(count):
                decode(warm, WARM_REQUEST)

        rows.append(
            ("decode warm (h2load, later request)", name, per_operation(run_warm, number, repeats))
        )
    encoders: list[
        tuple[str, Callable[[], object], Callable[[object, list[tuple[bytes, bytes]]], object]]
    ] = [
        (ours_name, hurtle_hpack.Encoder, ours_encode),
        (f"hpack {hpack.__version__}", hpack.Encoder, theirs_encode),
    ]
    for name, make, encode in encoders:
        rows.append(
            ("encode cold (response, 1st)", name, timed_encode_cold(make, encode, number, repeats))
        )
        warm = make()
        encode(warm, RESPONSE)

        def run_encode(
            count: int,
            warm: object = warm,
            encode: Callable[[object, list[tuple[bytes, bytes]]], object] = encode,
        ) -> None:
            for _ in range(count):
                encode(warm, RESPONSE)

        rows.append(
            ("encode warm (response, later)", name, per_operation(run_encode, number, repeats))
        )

    print(f"Python {sys.version.split()[0]}; median of {repeats} runs of {number} operations")
    width = max(len(case) for case, _, _ in rows)
    codec_width = max(len(codec) for _, codec, _ in rows)
    for case, codec, micros in rows:
        print(f"{case:<{width}}  {codec:<{codec_width}}  {micros:8.2f} µs")


if __name__ == "__main__":
    main()
