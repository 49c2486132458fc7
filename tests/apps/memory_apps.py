"""An app that measures the page faults of a burst of large allocations in the server process."""

from __future__ import annotations

import resource

from apps.basic import read_body, respond
from hurtle.asgi.types import Receive, Scope, Send


def heap_burst() -> None:
    """What a turn of the loop with 128 bodies of 64 KiB in flight leaves behind: 8 MiB."""
    # The list first, then the bodies: a list grown while they are made is
    # reallocated between them, and glibc trims the heap's top only down to
    # the first block still in use, so the count would depend on where the
    # list's last copy landed (which changes with what the process imported).
    chunks: list[bytes] = [b""] * 128
    for index in range(128):
        chunks[index] = b"x" * 65536
    del chunks


def faults_over_bursts(rounds: int = 20) -> int:
    heap_burst()  # The first burst maps its pages in either way.
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        heap_burst()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the page faults that 20 bursts cost in this process."""
    if scope["type"] != "http":
        return
    await read_body(receive)
    await respond(send, 200, b"%d" % faults_over_bursts())
