"""glibc heap tuning for a server process (--malloc-trim-threshold).

Why
---
A request or response body of tens of KiB is a bytes object of its own, and
so is each read from the socket: Python gets them from glibc's malloc. With 64
connections uploading 64 KiB each, one turn of the event loop allocates about
8 MiB of them at the top of the heap and frees them all when the apps have
read them. glibc then returns the free top of the heap to the kernel as soon
as it exceeds M_TRIM_THRESHOLD (128 KiB by default), and the next turn faults
every page back in: about 16 page faults for every 64 KiB request, in the
kernel's time. Whether it happens depends on whether some long-lived object
was allocated above that area, which is luck: the same server under the same
load measured at one of two rates far apart (docs/performance.md, item 9,
has the figures).

A trim threshold above what a burst allocates keeps those pages mapped, so
the next burst reuses them, at the higher rate in every run. The price is that
up to that many bytes of freed memory may stay resident in the worker after a
burst; memory in use is unaffected, and the idle server allocates nothing.

Setting M_TRIM_THRESHOLD turns off glibc's dynamic mmap threshold (mallopt(3)),
which would otherwise grow up to 32 MiB as large blocks are freed; the mmap
threshold is set to half the trim threshold, as the dynamic rule keeps it, so
blocks of a few hundred KiB still come from the heap instead of a fresh mmap
(and its page faults) each time.
"""

from __future__ import annotations

import ctypes
import os

from hurtle.logs import error_log

__all__ = ["release_free_memory", "tune_malloc"]


_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc refuses more on 64-bit (HEAP_MAX_SIZE / 2)
_MMAP_THRESHOLD_MIN = 128 * 1024  # glibc's default


def tune_malloc(trim_threshold: int) -> bool:
    """Set glibc's trim and mmap thresholds for this process; False where there is no glibc.

    0 leaves the allocator as it is. Process-wide: it also applies to an
    application that embeds hurtle.serve().
    """
    libc = _glibc()
    if trim_threshold == 0 or libc is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap_threshold = min(max(trim_threshold // 2, _MMAP_THRESHOLD_MIN), _MMAP_THRESHOLD_MAX)
    # mallopt returns 1 on success, 0 on error.
    done = bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold)) and bool(
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    )
    if not done:  # pragma: no cover - glibc accepts every value the option allows
        error_log.warning("could not set the malloc trim threshold to %d", trim_threshold)
    return done


def release_free_memory() -> None:
    """Return the heap's free pages to the kernel once (malloc_trim(3)), e.g. after start-up.

    Importing the app leaves freed memory behind that the raised trim
    threshold would otherwise keep resident for the life of the worker.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    """The C library this process runs on, if it is glibc (libc is already loaded)."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"; unknown elsewhere.
    except (ValueError, OSError):
        return None
    if not version or not version.startswith("glibc"):
        return None
    return ctypes.CDLL(None)
