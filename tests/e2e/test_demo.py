"""The built-in demo app, served by a real hurtle over real sockets.

A bare `hurtle` (a subprocess with no APP argument) must serve the demo; the
endpoint-by-endpoint checks run in-process on asyncio and on uvloop.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from hurtle.asgi.types import Message, Receive, Scope, Send
from hurtle.demo.app import ECHO_BODY_PREFIX, SSE_MAX_COUNT, SSE_MAX_INTERVAL
from hurtle.demo.app import app as demo_app
from support import InProcessServer, ServerProcess, raw_request

TIMEOUT = 10.0
ENDPOINTS = ["/text", "/json", "/stream", "/sse", "/request"]


# -- helpers ------------------------------------------------------------------


class RawResponse:
    """An HTTP/1.x response read off a socket, with its chunks kept apart."""

    def __init__(self, data: bytes) -> None:
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        self.status = int(status_line.split()[1])
        self.headers = [tuple(line.split(b":", 1)) for line in lines]
        self.chunks: list[bytes] = []
        if self.header(b"transfer-encoding") == b"chunked":
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    break
                self.chunks.append(rest[:size])
                assert rest[size : size + 2] == b"\r\n"
                rest = rest[size + 2 :]
            self.body = b"".join(self.chunks)
        else:
            self.body = rest

    def header_values(self, name: bytes) -> list[bytes]:
        return [value.strip() for key, value in self.headers if key.lower() == name]

    def header(self, name: bytes) -> bytes | None:
        values = self.header_values(name)
        return values[0] if values else None


def get_raw(port: int, target: str, method: str = "GET", version: str = "1.1") -> RawResponse:
    request = f"{method} {target} HTTP/{version}\r\nHost: demo\r\nConnection: close\r\n\r\n"
    return RawResponse(raw_request(port, request.encode(), timeout=TIMEOUT))


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    """Parse an event stream (HTML living standard 9.2.6) into the JSON of each event."""
    events: list[dict[str, Any]] = []
    data: list[str] = []
    for line in response.iter_lines():
        if not line:
            if data:
                events.append(json.loads("\n".join(data)))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    assert not data, "the stream ended inside an event"
    return events


@pytest.fixture
def demo(serve_app: Callable[..., InProcessServer]) -> InProcessServer:
    return serve_app(demo_app)


@pytest.fixture
def client(demo: InProcessServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=TIMEOUT) as client:
        yield client


# -- a bare `hurtle` serves the demo --------------------------------------------


def test_bare_hurtle_serves_the_demo(hurtle_process: Callable[..., ServerProcess]) -> None:
    url = hurtle_process().wait_ready()
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "<title>hurtle</title>" in page.text
        assert client.get("/text").text == "Hello from hurtle!\n"
        assert client.get("/json").json()["server"] == "hurtle"
        assert client.get("/stream").text.count("chunk") == 5
        with client.stream("GET", "/sse", params={"count": 2, "interval": 0}) as events:
            assert [event["n"] for event in sse_events(events)] == [1, 2]
        echoed = client.post("/request", content=b"ping").json()
        assert echoed["method"] == "POST" and echoed["body"]["text"] == "ping"
        assert client.get("/missing").status_code == 404


def test_demo_supports_lifespan_on(hurtle_process: Callable[..., ServerProcess]) -> None:
    server = hurtle_process("--lifespan", "on")
    document = httpx.get(server.wait_ready() + "/json", timeout=TIMEOUT).json()
    # Lifespan startup put its start time in the state every request scope sees.
    assert isinstance(document["uptime"], float)
    assert server.stop() == 0
    assert "Traceback" not in server.output
    assert "lifespan" not in server.output.lower()  # no lifespan complaint of any kind


# -- the endpoints ------------------------------------------------------------


def test_index_page(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert page.startswith("<!doctype html>")
    assert "<title>hurtle</title>" in page
    assert "<style>" in page and "<script>" in page
    assert "new EventSource(" in page  # the live view of /sse
    for endpoint in ENDPOINTS:
        assert f'href=".{endpoint}' in page, endpoint
    # Self-contained: nothing is loaded from anywhere else.
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", page)
    assert "@import" not in page


def test_text(client: httpx.Client, demo: InProcessServer) -> None:
    response = client.get("/text")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "Hello from hurtle!\n"
    # Sent in one piece: exactly one content-length on the wire, no chunking.
    raw = get_raw(demo.port, "/text")
    assert raw.header_values(b"content-length") == [b"19"]
    assert raw.header(b"transfer-encoding") is None


def test_json(client: httpx.Client) -> None:
    response = client.get("/json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["server"] == "hurtle"
    assert isinstance(document["message"], str) and document["message"]
    assert datetime.fromisoformat(document["time"]).tzinfo is not None
    assert document["uptime"] >= 0  # lifespan "auto" ran the demo's startup


def test_stream_is_chunked(client: httpx.Client, demo: InProcessServer) -> None:
    with client.stream("GET", "/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        text = response.read().decode()
    expected = [f"chunk {n} of 5\n".encode() for n in range(1, 6)]
    assert text == b"".join(expected).decode()
    # On the wire each `more_body` message is its own chunk.
    raw = get_raw(demo.port, "/stream")
    assert raw.header(b"transfer-encoding") == b"chunked"
    assert raw.chunks == expected


def test_stream_to_http10_client_is_close_delimited(demo: InProcessServer) -> None:
    raw = get_raw(demo.port, "/stream", version="1.0")
    assert raw.status == 200
    assert raw.header(b"transfer-encoding") is None
    assert raw.header(b"content-length") is None
    assert raw.body.count(b"chunk") == 5


def test_sse_sends_count_events_then_ends(client: httpx.Client) -> None:
    params = {"count": 3, "interval": 0.05}
    with client.stream("GET", "/sse", params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["transfer-encoding"] == "chunked"
        events = sse_events(response)  # returns only once the server ends the stream
    assert [event["n"] for event in events] == [1, 2, 3]
    assert all(event["of"] == 3 for event in events)
    assert all(datetime.fromisoformat(event["time"]) for event in events)


def test_sse_count_is_capped(client: httpx.Client) -> None:
    with client.stream("GET", "/sse", params={"count": 10_000, "interval": 0}) as response:
        events = sse_events(response)
    assert len(events) == SSE_MAX_COUNT


@pytest.mark.parametrize("query", ["count=many", "interval=soon", "interval=nan"])
def test_sse_rejects_malformed_query(client: httpx.Client, query: str) -> None:
    response = client.get("/sse?" + query)
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


class DisconnectWatch:
    """Wraps the demo app and records how an /sse request ended."""

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.saw_disconnect = False
        self.sends_after_disconnect = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await demo_app(scope, receive, send)
            return

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.saw_disconnect = True
            return message

        async def watched_send(message: Message) -> None:
            if self.saw_disconnect:
                self.sends_after_disconnect += 1
            await send(message)

        try:
            await demo_app(scope, watched_receive, watched_send)
        finally:
            self.finished.set()


def test_sse_stops_when_the_client_disconnects(serve_app: Callable[..., InProcessServer]) -> None:
    watch = DisconnectWatch()
    server = serve_app(watch)
    # Events half a minute apart, longer than the wait below: the app must
    # notice the disconnect while it waits, not at its next send.
    assert SSE_MAX_INTERVAL > TIMEOUT
    request = b"GET /sse?count=100&interval=30 HTTP/1.1\r\nHost: demo\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        received = b""
        while b"data:" not in received or not received.endswith(b"\n\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "the server closed before the first event"
            received += chunk
    assert b"text/event-stream" in received
    assert watch.finished.wait(TIMEOUT), "the app kept streaming after the client left"
    assert watch.saw_disconnect
    assert watch.sends_after_disconnect == 0


def test_request_echoes_a_post(client: httpx.Client, demo: InProcessServer) -> None:
    response = client.post(
        "/request?x=1&name=two%20words&empty",
        content="héllo, demo".encode(),
        headers={"x-demo": "yes", "content-type": "text/plain; charset=utf-8"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    echoed = response.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/request"
    assert echoed["raw_path"] == "/request"
    assert echoed["query_string"] == "x=1&name=two%20words&empty"
    assert echoed["query"] == [["x", "1"], ["name", "two words"], ["empty", ""]]
    assert echoed["http_version"] == "1.1"
    assert echoed["scheme"] == "http"
    assert echoed["root_path"] == ""
    assert echoed["client"][0] == "127.0.0.1"
    assert echoed["server"] == ["127.0.0.1", demo.port]
    assert ["x-demo", "yes"] in echoed["headers"]
    assert ["content-length", str(len("héllo, demo".encode()))] in echoed["headers"]
    assert echoed["body"] == {
        "length": len("héllo, demo".encode()),
        "text": "héllo, demo",
        "truncated": False,
    }


def test_request_reads_a_large_chunked_body(client: httpx.Client) -> None:
    pieces = [bytes([65 + n % 26]) * 10_000 for n in range(30)]  # 300 kB, several messages

    def upload() -> Iterator[bytes]:
        yield from pieces

    response = client.post("/request", content=upload())
    assert response.status_code == 200
    echoed = response.json()
    assert ["transfer-encoding", "chunked"] in echoed["headers"]
    body = echoed["body"]
    assert body["length"] == 300_000
    assert body["truncated"] is True
    assert body["text"] == b"".join(pieces)[:ECHO_BODY_PREFIX].decode()


def test_request_echoes_a_get_without_body(client: httpx.Client) -> None:
    echoed = client.get("/request").json()
    assert echoed["method"] == "GET"
    assert echoed["query_string"] == ""
    assert echoed["body"] == {"length": 0, "text": "", "truncated": False}


def test_demo_mounted_below_a_root_path(serve_app: Callable[..., InProcessServer]) -> None:
    server = serve_app(demo_app, root_path="/demo")
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        assert client.get("/text").text == "Hello from hurtle!\n"
        echoed = client.get("/request").json()
    assert echoed["root_path"] == "/demo"
    assert echoed["path"] == "/demo/request"


# -- errors and methods -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/missing", "/text/", "/json/extra", "/TEXT"])
def test_unknown_paths_are_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "Not Found\n"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/", "GET, HEAD"),
        ("DELETE", "/text", "GET, HEAD"),
        ("PUT", "/json", "GET, HEAD"),
        ("POST", "/stream", "GET, HEAD"),
        ("POST", "/sse", "GET, HEAD"),
        ("PUT", "/request", "GET, HEAD, POST"),
    ],
)
def test_unsupported_methods_are_405(
    client: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.text == "Method Not Allowed\n"


@pytest.mark.parametrize("path", ["/", "/text", "/json", "/stream", "/sse"])
def test_head_has_no_body(demo: InProcessServer, path: str) -> None:
    raw = get_raw(demo.port, path, method="HEAD")
    assert raw.status == 200
    assert raw.body == b""
    assert raw.header(b"content-type") is not None


def test_chat_room_over_websocket(serve_app: Callable[..., InProcessServer]) -> None:
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    server = serve_app(demo_app)
    base = server.url.replace("http://", "ws://")

    async def clients() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with connect(base + "/chat") as alice:
            joined = json.loads(await alice.recv())
            async with connect(base + "/chat") as bob:
                await alice.recv()  # bob joined
                await bob.recv()
                await bob.send("hello room")
                seen_by_alice = [json.loads(await alice.recv())]
                seen_by_bob = [joined, json.loads(await bob.recv())]
        with pytest.raises(InvalidStatus) as info:
            async with connect(base + "/elsewhere"):
                pass
        assert info.value.response.status_code == 403
        return seen_by_alice, seen_by_bob

    seen_by_alice, seen_by_bob = asyncio.run(asyncio.wait_for(clients(), 20))
    assert seen_by_alice[0]["kind"] == "message" and seen_by_alice[0]["text"] == "hello room"
    assert seen_by_bob[1] == seen_by_alice[0]
    assert seen_by_bob[0]["kind"] == "joined"
