"""What HTTP/2 requests look like to hurtle: the settings it announces, and H2Wire's events.

Events are in the past tense, like wire/h1.py's; each names its stream
(0 for the connection). wire/h2.py makes them from h2's.
"""

from __future__ import annotations

__all__ = [
    "BodyReceived",
    "ConnectionEnded",
    "H2Event",
    "H2Settings",
    "RequestEnded",
    "RequestReceived",
    "RequestRejected",
    "StreamReset",
    "WindowOpened",
]


class H2Settings:
    """What hurtle announces in its SETTINGS and the limits it holds each request to."""

    __slots__ = (
        "initial_window_size",
        "max_body",
        "max_concurrent_streams",
        "max_frame_size",
        "max_header_list_size",
        "max_headers",
    )

    def __init__(
        self,
        max_concurrent_streams: int = 100,
        initial_window_size: int = 65535,
        max_frame_size: int = 16384,
        max_header_list_size: int = 65536,
        max_headers: int = 100,
        max_body: int | None = None,
    ) -> None:
        self.max_concurrent_streams = max_concurrent_streams
        self.initial_window_size = initial_window_size
        self.max_frame_size = max_frame_size
        self.max_header_list_size = max_header_list_size
        self.max_headers = max_headers
        self.max_body = max_body


class H2Event:
    """Something the client did on one stream (stream_id) or on the connection (0)."""

    __slots__ = ("stream_id",)

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id


class RequestReceived(H2Event):
    """A request's header block: the stream is open, its body may follow."""

    __slots__ = ("ended", "headers", "method", "protocol", "scheme", "target")

    def __init__(
        self,
        stream_id: int,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        scheme: str | None,
        protocol: str | None,
        ended: bool,
    ) -> None:
        super().__init__(stream_id)
        self.method = method
        self.target = target
        self.headers = headers
        self.scheme = scheme
        self.protocol = protocol  # RFC 8441's :protocol (extended CONNECT).
        self.ended = ended  # END_STREAM on the headers: no body.


class BodyReceived(H2Event):
    __slots__ = ("data",)

    def __init__(self, stream_id: int, data: bytes) -> None:
        super().__init__(stream_id)
        self.data = data


class RequestEnded(H2Event):
    __slots__ = ()


class RequestRejected(H2Event):
    """A request refused before its app ran (431, 413): answer `status` on the stream."""

    __slots__ = ("reason", "status")

    def __init__(self, stream_id: int, status: int, reason: str) -> None:
        super().__init__(stream_id)
        self.status = status
        self.reason = reason


class StreamReset(H2Event):
    """The client reset the stream (RST_STREAM), or hurtle did for a stream error."""

    __slots__ = ("error_code",)

    def __init__(self, stream_id: int, error_code: int) -> None:
        super().__init__(stream_id)
        self.error_code = error_code


class WindowOpened(H2Event):
    """The peer gave window to one stream, or (stream_id 0) to all of them."""

    __slots__ = ()


class ConnectionEnded(H2Event):
    """The connection is over: the peer sent GOAWAY, or hurtle did for an error.

    `error_code` is the HTTP/2 error code; `reason` says what went wrong when
    hurtle ended it (a protocol error, a flood), and is empty otherwise.
    """

    __slots__ = ("error_code", "last_stream_id", "reason")

    def __init__(self, error_code: int, last_stream_id: int, reason: str) -> None:
        super().__init__(0)
        self.error_code = error_code
        self.last_stream_id = last_stream_id
        self.reason = reason
