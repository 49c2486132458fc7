"""WebSockets over HTTP/2 (RFC 8441) end to end: a client that speaks it (the h2
library in client mode carrying the `websockets` sans-I/O client's frames,
tests/h2_websocket_client.py) against a real hurtle, over h2c and TLS."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from e2e.test_tls import TLSFiles, tls  # noqa: F401 (the fixture)
from h2_frames import CANCEL, PROTOCOL_ERROR
from h2_websocket_client import H2WebSocketClient
from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, wait_for

Serve = Callable[..., InProcessServer]
Events = list[dict[str, Any]]


def echo_app(events: Events) -> Any:
    """Echoes; records what it receives; `/scope` sends its scope; `/deny...` denies."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"plain " + scope["path"].encode()})
            return
        if scope["type"] != "websocket":
            return
        path = scope["path"]
        message = await receive()
        events.append(dict(message))
        if path == "/deny":
            await send({"type": "websocket.close"})
            return
        if path == "/deny-custom":
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [(b"x-why", b"no token")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"who ", "more_body": True})
            await send({"type": "websocket.http.response.body", "body": b"are you?"})
            return
        subprotocols = scope["subprotocols"]
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": subprotocols[-1] if subprotocols else None,
                "headers": [(b"x-accepted", b"yes")],
            }
        )
        if path == "/scope":
            seen = {k: scope[k] for k in ("http_version", "scheme", "path", "query_string")}
            seen["query_string"] = seen["query_string"].decode()
            seen["extensions"] = sorted(scope["extensions"])
            await send({"type": "websocket.send", "text": json.dumps(seen)})
        while True:
            message = await receive()
            events.append(dict(message))
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close-me":
                await send({"type": "websocket.close", "code": 4001, "reason": "as asked"})
                continue
            await send(
                {
                    "type": "websocket.send",
                    **{k: v for k, v in message.items() if k in ("text", "bytes")},
                }
            )

    return app


@pytest.fixture
def events() -> Events:
    return []


@pytest.fixture
def server(serve_app: Serve, events: Events) -> InProcessServer:
    return serve_app(echo_app(events), ws_ping_interval=None)


@pytest.fixture
def client(server: InProcessServer) -> Any:
    connection = H2WebSocketClient(server.port)
    yield connection
    connection.close()


def test_echo_over_h2c_with_the_http2_scope(client: H2WebSocketClient) -> None:
    """RFC 8441 sections 3-5: the setting, the extended CONNECT, a 200 without
    Sec-WebSocket-Accept, then text and binary frames in DATA frames."""
    assert client.connect_protocol_enabled
    stream = client.open(b"/scope?x=1")
    headers = client.headers[stream]
    assert b"sec-websocket-accept" not in headers and headers[b"x-accepted"] == b"yes"
    client.wait(lambda: len(client.messages(stream)) == 1)
    scope = json.loads(client.messages(stream)[0])
    assert scope == {
        "http_version": "2",
        "scheme": "ws",
        "path": "/scope",
        "query_string": "x=1",
        "extensions": ["websocket.http.response"],
    }
    client.send_text(stream, "héllo")
    client.send_binary(stream, b"\x00\xff" * 40000)  # Several DATA frames, windows.
    client.wait(lambda: len(client.messages(stream)) == 3)
    assert client.messages(stream)[1:] == ["héllo", b"\x00\xff" * 40000]


def test_echo_over_tls_with_alpn_h2(serve_app: Serve, events: Events, tls: TLSFiles) -> None:  # noqa: F811
    server = serve_app(echo_app(events), ws_ping_interval=None, **tls.server_options())
    client = H2WebSocketClient(server.port, tls.client_context())
    try:
        assert client.connect_protocol_enabled
        stream = client.open(b"/scope")
        client.wait(lambda: len(client.messages(stream)) == 1)
        scope = json.loads(client.messages(stream)[0])
        assert scope["scheme"] == "wss" and scope["http_version"] == "2"
        assert "tls" in scope["extensions"]
        client.send_text(stream, "over tls")
        client.wait(lambda: len(client.messages(stream)) == 2)
        assert client.messages(stream)[1] == "over tls"
    finally:
        client.close()


def test_subprotocol_and_permessage_deflate_are_negotiated(client: H2WebSocketClient) -> None:
    """RFC 8441 section 5: Sec-WebSocket-Protocol and -Extensions as in RFC 6455/7692."""
    stream = client.open(subprotocols=["v1", "v2"], deflate=True)
    headers = client.headers[stream]
    assert headers[b"sec-websocket-protocol"] == b"v2"
    assert headers[b"sec-websocket-extensions"].startswith(b"permessage-deflate")
    assert client.sockets[stream].extensions  # The client compresses as well.
    text = "compressible " * 20000
    client.send_text(stream, text)
    client.wait(lambda: len(client.messages(stream)) == 1)
    assert client.messages(stream) == [text]


def test_close_codes_both_ways(client: H2WebSocketClient, events: Events) -> None:
    """A close frame each way; hurtle's END_STREAM follows the close handshake (RFC 8441
    section 5: END_STREAM is TCP's orderly close)."""
    app_closes = client.open()
    client.send_text(app_closes, "close-me")
    client.wait(lambda: app_closes in client.ended)
    assert client.close_code(app_closes) == 4001
    close = client.sockets[app_closes].close_rcvd
    assert close is not None and close.reason == "as asked"

    client_closes = client.open()
    client.send_close(client_closes, 4321, "leaving")
    client.wait(lambda: client_closes in client.ended)
    assert client.close_code(client_closes) == 4321  # The server echoes the code.
    wait_for(lambda: {"type": "websocket.disconnect", "code": 4321, "reason": "leaving"} in events)
    assert client_closes not in client.reset or client.reset[client_closes] == 0


def test_denials_are_http2_responses(client: H2WebSocketClient) -> None:
    """asgiref www.rst: a close before accept is 403; websocket.http.response is the
    app's own response, here as HEADERS and DATA on the stream."""
    stream = client.connect(b"/deny")
    client.wait(lambda: stream in client.ended)
    assert client.status[stream] == 403
    custom = client.connect(b"/deny-custom")
    client.wait(lambda: custom in client.ended)
    assert client.status[custom] == 401
    assert client.headers[custom][b"x-why"] == b"no token"
    assert client.bodies[custom] == b"who are you?"


def test_handshake_rules(client: H2WebSocketClient) -> None:
    """Sec-WebSocket-Version 13 is required (RFC 8441 section 5, RFC 6455 section 4.1);
    another :protocol is not implemented; the app never sees either."""
    no_version = client.connect(version=None)
    other = client.connect(version=b"8")
    unknown = client.connect(protocol=b"connect-udp")
    client.wait(lambda: {no_version, other, unknown} <= client.ended)
    assert client.status[no_version] == client.status[other] == 400
    assert client.headers[other][b"sec-websocket-version"] == b"13"
    assert client.status[unknown] == 501


def test_a_message_over_ws_max_size_closes_with_1009(serve_app: Serve, events: Events) -> None:
    server = serve_app(echo_app(events), ws_ping_interval=None, ws_max_size=1000)
    client = H2WebSocketClient(server.port)
    try:
        stream = client.open()
        client.send_binary(stream, b"x" * 1000)
        client.wait(lambda: len(client.messages(stream)) == 1)
        client.send_binary(stream, b"x" * 1001)
        client.wait(lambda: stream in client.ended or stream in client.reset)
        assert client.close_code(stream) == 1009
        wait_for(lambda: any(e.get("code") == 1009 for e in events))
    finally:
        client.close()


def test_a_reset_stream_is_a_disconnect(client: H2WebSocketClient, events: Events) -> None:
    """RFC 8441 section 5: RST_STREAM is TCP's reset; the app hears 1006, and the
    connection's other streams go on."""
    stream = client.open()
    client.send_text(stream, "one")
    client.wait(lambda: client.messages(stream) == ["one"])
    client.h2.reset_stream(stream, CANCEL)
    client.flush()
    wait_for(lambda: {"type": "websocket.disconnect", "code": 1006, "reason": ""} in events)
    other = client.open()
    client.send_text(other, "two")
    client.wait(lambda: client.messages(other) == ["two"])


def test_many_websockets_and_requests_share_one_connection(client: H2WebSocketClient) -> None:
    streams = [client.open() for _ in range(8)]
    requests = [client.request(b"/page%d" % i) for i in range(4)]
    for i, stream in enumerate(streams):
        client.send_text(stream, f"stream {i}")
    client.wait(lambda: all(len(client.messages(s)) == 1 for s in streams))
    client.wait(lambda: set(requests) <= client.ended)
    assert [client.messages(s) for s in streams] == [[f"stream {i}"] for i in range(8)]
    assert [client.bodies[r] for r in requests] == [b"plain /page%d" % i for i in range(4)]


def test_an_app_that_does_not_read_stalls_only_its_stream(serve_app: Serve) -> None:
    """--ws-max-queue messages waiting: the stream's window stops coming back, so the
    client waits on that stream only (RFC 9113 section 5.2)."""
    release = asyncio.Event()
    received: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body"})
            return
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        if scope["path"] == "/slow":
            await release.wait()
        while (message := await receive())["type"] == "websocket.receive":
            received.append(len(message["bytes"]))

    server = serve_app(app, ws_ping_interval=None, ws_max_queue=2, h2_initial_window_size=65535)
    client = H2WebSocketClient(server.port)
    try:
        slow = client.open(b"/slow")
        with pytest.raises(TimeoutError):
            for _ in range(100):
                client.sockets[slow].send_binary(b"x" * 16000)
                client._write(slow, timeout=1)
        assert client.h2.local_flow_control_window(slow) <= 0
        plain = client.request()
        client.wait(lambda: plain in client.ended)
        assert client.status[plain] == 204
        assert server._loop is not None
        server._loop.call_soon_threadsafe(release.set)
        wait_for(
            lambda: client.h2.local_flow_control_window(slow) > 0 or (client.pump(0.1) and False)
        )
    finally:
        client.close()


def test_without_websockets_extended_connect_is_not_offered(serve_app: Serve) -> None:
    """--ws none: no SETTINGS_ENABLE_CONNECT_PROTOCOL, and a :protocol request is
    malformed (RFC 8441 section 4): RST_STREAM PROTOCOL_ERROR."""
    server = serve_app(echo_app([]), ws="none")
    client = H2WebSocketClient(server.port)
    try:
        assert not client.connect_protocol_enabled
        stream = client.connect()
        client.wait(lambda: stream in client.reset)
        assert client.reset[stream] == PROTOCOL_ERROR
        plain = client.request(b"/still")
        client.wait(lambda: plain in client.ended)
        assert client.bodies[plain] == b"plain /still"
    finally:
        client.close()


def test_pings_go_out_and_a_silent_client_is_closed_with_1011(
    serve_app: Serve, events: Events
) -> None:
    """--ws-ping-interval and --ws-ping-timeout, as over HTTP/1.1."""
    server = serve_app(echo_app(events), ws_ping_interval=0.2, ws_ping_timeout=0.3)
    client = H2WebSocketClient(server.port)
    try:
        answering = client.open()
        client.wait(lambda: any(f.opcode.name == "PING" for f in client.frames.get(answering, [])))
        client.send_text(answering, "still here")  # The pong went back with the pump.
        client.wait(lambda: client.messages(answering) == ["still here"])
        # Now the client reads nothing: its pong never comes.
        wait_for(lambda: any(e.get("code") == 1011 for e in events), timeout=5)
        client.wait(lambda: answering in client.ended or answering in client.reset)
    finally:
        client.close()


def test_graceful_shutdown_closes_with_1012(serve_app: Serve, events: Events) -> None:
    server = serve_app(echo_app(events), ws_ping_interval=None)
    client = H2WebSocketClient(server.port)
    try:
        stream = client.open()
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        client.wait(lambda: client.close_code(stream) is not None)
        assert client.close_code(stream) == 1012
        # h2 as a client sends nothing after the GOAWAY that came with the close
        # frame (docs/http2.md), so this client cannot answer it: it leaves.
        client.close()
        stopper.join(15)
        assert not stopper.is_alive()
    finally:
        client.close()
