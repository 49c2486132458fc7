"""The two pipes between the supervisor and one worker, and what travels on them.

`down` carries the supervisor's messages to the worker; `up` the worker's
answers. Every message is one byte, so a read never splits one and no framing
is needed. Both ends are non-blocking: a full pipe drops a message rather than
block either side (a missed PING only makes a worker look late; a missed PONG
is what a stuck worker looks like anyway).

The worker reads `down` with the event loop's add_reader, so a PONG proves
that its event loop runs callbacks: a loop blocked by `time.sleep()` in a view
answers nothing, however healthy the process's other threads are. End of file
on `down` tells the worker that the supervisor has gone.
"""

from __future__ import annotations

import os
import signal

__all__ = [
    "PING",
    "PONG",
    "READY",
    "RECYCLE",
    "RETIRE",
    "STACK_DUMP_SIGNAL",
    "pipe",
    "read_available",
    "send",
]

# supervisor -> worker
PING = b"p"  # answer with PONG, from the event loop
RETIRE = b"r"  # a replacement serves: drain gently (Server.shutdown(linger=True)) and exit

# worker -> supervisor
PONG = b"P"
READY = b"R"  # serving: the listening sockets are being accepted from
RECYCLE = b"M"  # served --max-requests: replace me (I keep serving until retired)

# Not a pipe message but a signal, since a worker whose loop is stuck reads no
# pipe: on it the worker's faulthandler dumps every thread's Python stack to
# stderr, which the supervisor asks for before it kills a worker that stopped
# answering.
STACK_DUMP_SIGNAL = signal.SIGUSR1


def pipe() -> tuple[int, int]:
    """A pipe whose ends are non-blocking and not inherited unless passed on purpose."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    return read_end, write_end


def send(fd: int, message: bytes) -> bool:
    """Write one message; False when the pipe is full or the other side has gone."""
    try:
        return os.write(fd, message) == len(message)
    except (BlockingIOError, BrokenPipeError):
        return False
    except OSError:
        return False


def read_available(fd: int) -> bytes | None:
    """Whatever has arrived (b"" if nothing); None at end of file."""
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            break
        except OSError:
            return None
        if not chunk:
            return b"".join(chunks) if chunks else None
        chunks.append(chunk)
        if len(chunk) < 4096:
            break
    return b"".join(chunks)
