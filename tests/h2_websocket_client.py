"""A WebSocket client over HTTP/2 (RFC 8441) for the tests: the h2 library in client
mode sends the extended CONNECT and carries, in DATA frames, the frames of the
`websockets` sans-I/O client core (websockets.client.ClientProtocol)."""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame
from websockets.protocol import OPEN
from websockets.uri import parse_uri

from h2_frames import receive_events, send_in_windows


class H2WebSocketClient:
    """One HTTP/2 connection that opens WebSockets (and plain requests) on its streams."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if context is not None:
            context.set_alpn_protocols(["h2"])
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
            assert sock.selected_alpn_protocol() == "h2"
        self.sock = sock
        self.scheme = b"https" if context is not None else b"http"
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.initiate_connection()
        self.status: dict[int, int] = {}
        self.headers: dict[int, dict[bytes, bytes]] = {}
        self.bodies: dict[int, bytes] = {}
        self.ended: set[int] = set()
        self.reset: dict[int, int] = {}
        self.sockets: dict[int, ClientProtocol] = {}
        self.frames: dict[int, list[Frame]] = {}
        self.settings_seen = False
        self.connects: set[int] = set()
        self.client_ended: set[int] = set()
        self.closed = False
        self.flush()
        self.wait(lambda: self.settings_seen)

    @property
    def connect_protocol_enabled(self) -> bool:
        return bool(self.h2.remote_settings.enable_connect_protocol)

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def connect(
        self,
        path: bytes = b"/ws",
        subprotocols: list[str] | None = None,
        deflate: bool = False,
        version: bytes | None = b"13",
        protocol: bytes = b"websocket",
    ) -> int:
        """Send the extended CONNECT (RFC 8441 section 4); the stream id."""
        stream_id: int = self.h2.get_next_available_stream_id()
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", protocol),
            (b":scheme", self.scheme),
            (b":path", path),
            (b":authority", b"127.0.0.1"),
        ]
        if version is not None:
            headers.append((b"sec-websocket-version", version))
        if subprotocols:
            headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
        if deflate:
            headers.append(
                (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits")
            )
        self.h2.send_headers(stream_id, headers, end_stream=False)
        self.connects.add(stream_id)
        self.flush()
        return stream_id

    def request(self, path: bytes = b"/") -> int:
        stream_id: int = self.h2.get_next_available_stream_id()
        self.h2.send_headers(
            stream_id,
            [
                (b":method", b"GET"),
                (b":scheme", self.scheme),
                (b":path", path),
                (b":authority", b"127.0.0.1"),
            ],
            end_stream=True,
        )
        self.flush()
        return stream_id

    def open(self, path: bytes = b"/ws", **options: Any) -> int:
        """Connect and wait for the 200: the stream then carries WebSocket frames."""
        stream_id = self.connect(path, **options)
        self.wait(lambda: stream_id in self.status or stream_id in self.reset)
        assert self.status.get(stream_id) == 200, (self.status, self.reset, self.bodies)
        return stream_id

    def _client_protocol(self, stream_id: int) -> ClientProtocol:
        protocol = ClientProtocol(
            parse_uri("ws://127.0.0.1/ws"),
            extensions=[ClientPerMessageDeflateFactory(client_max_window_bits=True)],
            state=OPEN,
            max_size=None,
        )
        headers = Headers([(k.decode(), v.decode()) for k, v in self.headers[stream_id].items()])
        protocol.extensions = protocol.process_extensions(headers)
        return protocol

    def send_text(self, stream_id: int, text: str) -> None:
        self.sockets[stream_id].send_text(text.encode())
        self._write(stream_id)

    def send_binary(self, stream_id: int, data: bytes) -> None:
        self.sockets[stream_id].send_binary(data)
        self._write(stream_id)

    def send_close(self, stream_id: int, code: int, reason: str = "") -> None:
        self.sockets[stream_id].send_close(code, reason)
        self._write(stream_id)

    def _write(self, stream_id: int, timeout: float = 10) -> None:
        """The protocol's frames as DATA within the server's windows; END_STREAM for EOF."""
        if self.h2.state_machine.state is h2.connection.ConnectionState.CLOSED:
            # h2 sends nothing after a GOAWAY, not even on streams still open.
            self.sockets[stream_id].data_to_send()
            return
        deadline = time.monotonic() + timeout
        for data in self.sockets[stream_id].data_to_send():
            if stream_id in self.reset or self.h2.streams.get(stream_id) is None:
                continue  # The server reset it (NO_ERROR after its END_STREAM): nothing goes.
            if self.h2.streams[stream_id].closed:
                continue
            if data == b"":
                if stream_id in self.client_ended:
                    continue
                self.client_ended.add(stream_id)
                self.h2.end_stream(stream_id)
                self.flush()
                continue
            send_in_windows(self, stream_id, data, deadline)

    def messages(self, stream_id: int) -> list[Any]:
        """The data frames' payloads received so far (text decoded)."""
        out: list[Any] = []
        for frame in self.frames.get(stream_id, []):
            if frame.opcode.name == "TEXT":
                out.append(bytes(frame.data).decode())
            elif frame.opcode.name == "BINARY":
                out.append(bytes(frame.data))
        return out

    def close_code(self, stream_id: int) -> int | None:
        protocol = self.sockets[stream_id]
        return protocol.close_rcvd.code if protocol.close_rcvd is not None else None

    def pump(self, timeout: float = 10.0) -> bool:
        events = receive_events(self, timeout)
        if events is None:
            return False
        for event in events:
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self.settings_seen = True
            elif isinstance(event, h2.events.ResponseReceived):
                stream_id = event.stream_id
                self.headers[stream_id] = dict(event.headers)
                self.status[stream_id] = int(self.headers[stream_id][b":status"])
                if self.status[stream_id] == 200 and self._is_websocket(stream_id):
                    self.sockets[stream_id] = self._client_protocol(stream_id)
            elif isinstance(event, h2.events.DataReceived):
                stream_id = event.stream_id
                self.h2.acknowledge_received_data(event.flow_controlled_length, stream_id)
                if stream_id in self.sockets:
                    protocol = self.sockets[stream_id]
                    protocol.receive_data(event.data)
                    self._take_frames(stream_id)
                else:
                    self.bodies[stream_id] = self.bodies.get(stream_id, b"") + event.data
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
                if event.stream_id in self.sockets:
                    self.sockets[event.stream_id].receive_eof()
                    self._take_frames(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.reset[event.stream_id] = int(event.error_code)
        self.flush()
        return True

    def _is_websocket(self, stream_id: int) -> bool:
        return stream_id in self.connects

    def _take_frames(self, stream_id: int) -> None:
        protocol = self.sockets[stream_id]
        for event in protocol.events_received():
            if isinstance(event, Frame):
                self.frames.setdefault(stream_id, []).append(event)
        # The protocol's answers (pongs, close replies, EOF) go out at once.
        self._write(stream_id)

    def wait(self, done: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise AssertionError("the server did not do it in time")
            self.pump(min(left, 1.0))

    def close(self) -> None:
        self.sock.close()
