"""The ASGI rules of the request cycle, over HTTP/1.1 and HTTP/2 alike.

asgi/http_core.py holds the rules once for every protocol; this suite runs
each against a real hurtle with a real client (httpx: HTTP/1.1, or HTTP/2
with prior knowledge on the same cleartext port), so a protocol that
translated the cycle wrongly fails here. tests/asgi/test_http_cycle.py walks
the same rules in-process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, wait_for

Serve = Callable[..., InProcessServer]
PROTOCOLS = ["HTTP/1.1", "HTTP/2"]


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def client(protocol: str) -> Iterator[httpx.Client]:
    http2 = protocol == "HTTP/2"
    with httpx.Client(http1=not http2, http2=http2, timeout=10) as client:
        yield client


def text(body: bytes = b"ok") -> list[dict[str, Any]]:
    return [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        },
        {"type": "http.response.body", "body": body},
    ]


def test_the_protocol_is_the_one_asked_for(
    serve_app: Serve, client: httpx.Client, protocol: str
) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        seen.append(scope["http_version"])
        for message in text():
            await send(message)

    server = serve_app(app)
    response = client.get(server.url + "/")
    assert response.http_version == protocol
    assert seen == ["1.1" if protocol == "HTTP/1.1" else "2"]


def test_start_and_one_body(serve_app: Serve, client: httpx.Client) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        for message in text(b"hello"):
            await send(message)

    server = serve_app(app)
    response = client.get(server.url + "/")
    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.headers["content-length"] == "5"
    assert response.headers["server"] == "hurtle"
    assert "date" in response.headers


@pytest.mark.parametrize(
    "messages",
    [
        [{"type": "http.response.body", "body": b"early"}],
        [{"type": "http.response.start", "status": 103, "headers": []}],
        [{"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\nb")]}],
        [],  # The app returns without a response.
        [{"type": "http.response.start", "status": 200, "headers": []}],  # ...and no body.
    ],
    ids=["body-before-start", "1xx-start", "bad-header", "no-response", "start-only"],
)
def test_nothing_sent_yet_means_a_500(
    serve_app: Serve, client: httpx.Client, messages: list[dict[str, Any]]
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        for message in messages:
            await send(message)

    server = serve_app(app)
    response = client.get(server.url + "/")
    assert response.status_code == 500
    assert response.text == "Internal Server Error\n"


def test_an_exception_after_the_head_cuts_the_response(
    serve_app: Serve, client: httpx.Client
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("boom")

    server = serve_app(app)
    # HTTP/1.1: the connection is closed without the last chunk; HTTP/2: RST_STREAM.
    # Either way the client must not take the body for complete.
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url + "/")


def test_a_body_shorter_than_its_content_length_is_never_complete(
    serve_app: Serve, client: httpx.Client
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]}
        )
        await send({"type": "http.response.body", "body": b"short"})

    server = serve_app(app)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url + "/")


def test_request_body_in_pieces_then_the_end(serve_app: Serve, client: httpx.Client) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        total = 0
        while True:
            message = await receive()
            total += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        for part in text(str(total).encode()):
            await send(part)

    server = serve_app(app)

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 50_000  # 1 MB: past every window and buffer, so credit must flow.

    response = client.post(server.url + "/", content=chunks())
    assert response.text == "1000000"


def test_a_streamed_response_arrives_whole(serve_app: Serve, client: httpx.Client) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(32):
            await send({"type": "http.response.body", "body": b"y" * 65536, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    server = serve_app(app)
    response = client.get(server.url + "/")
    assert len(response.content) == 32 * 65536


@pytest.mark.parametrize("declared", [True, False])
def test_head_gets_no_body(serve_app: Serve, client: httpx.Client, declared: bool) -> None:
    """RFC 9110 section 9.3.2; section 8.6: a HEAD response's Content-Length MUST be what a
    GET would send, so it is the app's own, never one counted from what it sent for HEAD."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", b"6")] if declared else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"a body"})

    server = serve_app(app)
    response = client.head(server.url + "/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers.get("content-length") == ("6" if declared else None)


def test_disconnect_reaches_the_app(serve_app: Serve, protocol: str) -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                events.append("disconnect")
                return

    server = serve_app(app)
    http2 = protocol == "HTTP/2"
    with (
        httpx.Client(http1=not http2, http2=http2, timeout=10) as client,
        client.stream("GET", server.url + "/") as response,
    ):
        assert next(response.iter_raw()) == b"first"
        # Leaving the stream closes it: HTTP/1.1 drops the connection, HTTP/2
        # resets the stream (RST_STREAM CANCEL).
    wait_for(lambda: events == ["disconnect"])


def test_body_limit_is_413(serve_app: Serve, client: httpx.Client) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        for message in text():
            await send(message)

    server = serve_app(app, limit_request_body=1000)
    response = client.post(server.url + "/", content=b"z" * 5000)
    assert response.status_code == 413


def test_too_many_headers_is_431(serve_app: Serve, client: httpx.Client) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        for message in text():
            await send(message)

    server = serve_app(app, limit_request_headers=10)
    headers = {f"x-h{i}": "v" for i in range(20)}
    response = client.get(server.url + "/", headers=headers)
    assert response.status_code == 431


def test_past_the_concurrency_limit_is_503(serve_app: Serve, client: httpx.Client) -> None:
    release = threading.Event()
    started: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started.append(1)
        if scope["path"] == "/hold":
            for _ in range(1000):
                if release.is_set():
                    break
                await asyncio.sleep(0.01)
        for message in text():
            await send(message)

    server = serve_app(app, limit_concurrency=1)
    with httpx.Client(timeout=10) as other:  # The held request, on a connection of its own.
        holder = threading.Thread(target=lambda: other.get(server.url + "/hold"))
        holder.start()
        wait_for(lambda: started == [1])
        response = client.get(server.url + "/")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        release.set()
        holder.join(10)
