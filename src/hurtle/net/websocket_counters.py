"""--metrics-bind's WebSocket counters: a plain Python object, for interpreted callers.

net/metrics.py is compiled, and interpreted code (net/websocket.py) reaches a
compiled object's fields through descriptors that box and unbox each integer:
measured with timeit, `counters.x += n` cost about 69 ns there and 36 ns on
this slotted object, whose fields the interpreter reads and writes with
specialised instructions. WebSocket messages are counted once each, so they
are counted here; ServerMetrics holds the one instance and reads it when
scraped.
"""

from __future__ import annotations

__all__ = ["WebSocketCounters"]


class WebSocketCounters:
    """Bytes, sessions and messages of the WebSockets of one serving process."""

    __slots__ = ("bytes_received", "bytes_sent", "messages_received", "messages_sent", "sessions")

    def __init__(self) -> None:
        self.bytes_received = 0
        self.bytes_sent = 0
        self.sessions = 0
        self.messages_received = 0
        self.messages_sent = 0
