"""HTTP/2 end to end (RFC 9113): real clients (httpx over TLS with ALPN, curl, nghttp,
h2load, and the h2 library over a plain socket) against a real hurtle on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import json
import random
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hyperframe.frame import DataFrame, Frame, GoAwayFrame

from apps.basic import jsonable_scope, read_body
from e2e.test_tls import TLSFiles, tls  # noqa: F401 (the fixture)
from h2_frames import (
    CANCEL,
    INTERNAL_ERROR,
    REFUSED_STREAM,
    H2Client,
    RawConnection,
    request_headers,
    resets,
)
from hurtle.asgi.types import Receive, Scope, Send
from hurtle.net.h2 import H2Stream
from support import InProcessServer, wait_for

Serve = Callable[..., InProcessServer]


class Recorder:
    """What the app saw, for the test thread to look at."""

    def __init__(self) -> None:
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.release = threading.Event()
        self.started: list[str] = []


def make_app(recorder: Recorder) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"].removeprefix(scope["root_path"])
        recorder.started.append(path)
        send_json = _json_sender(send)
        if path == "/scope":
            await send_json(jsonable_scope(scope))
        elif path == "/echo":
            body = await read_body(receive)
            await send_json({"size": len(body), "head": body[:16].decode("latin-1")})
        elif path == "/hold":
            # Reads nothing until released: its client's window stays closed.
            while not recorder.release.is_set():
                await asyncio.sleep(0.01)
            body = await read_body(receive)
            await send_json({"size": len(body)})
        elif path == "/listen":
            # Records every message until the request ends or the client goes.
            seen = recorder.messages.setdefault(path, [])
            while True:
                message = await receive()
                seen.append({k: v for k, v in message.items() if k != "body"})
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    break
            if seen[-1]["type"] != "http.disconnect":
                await send_json({"ok": True})
        elif path.startswith("/big/"):
            size = int(path[5:])
            await send({"type": "http.response.start", "status": 200, "headers": []})
            chunk = b"z" * 65536
            sent = 0
            while sent < size:
                piece = chunk[: size - sent]
                sent += len(piece)
                await send({"type": "http.response.body", "body": piece, "more_body": sent < size})
        elif path.startswith("/random/"):
            # Bytes that differ everywhere and from stream to stream: a payload
            # written out of order or from the wrong buffer shows.
            size, seed = (int(part) for part in path[8:].split("/"))
            body = random.Random(seed).randbytes(size)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for start in range(0, size, 65536):
                piece = body[start : start + 65536]
                await send(
                    {"type": "http.response.body", "body": piece, "more_body": start + 65536 < size}
                )
        elif path == "/raise":
            raise RuntimeError("boom before the head")
        elif path == "/raise-after-head":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
            raise RuntimeError("boom after the head")
        elif path.startswith("/status/"):
            status = int(path[8:])
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b"not sent"})
        elif path == "/slow":
            while not recorder.release.is_set():
                await asyncio.sleep(0.01)
            await send_json({"done": True})
        elif path == "/hop":
            headers = [(b"keep-alive", b"timeout=5"), (b"upgrade", b"x"), (b"x-ok", b"1")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"ok"})
        else:
            await send_json({"path": path})

    return app


def _json_sender(send: Send) -> Callable[[Any], Any]:
    async def send_json(value: Any) -> None:
        body = json.dumps(value).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return send_json


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def h2_server(serve_app: Serve, recorder: Recorder) -> Callable[..., InProcessServer]:
    def start(**options: Any) -> InProcessServer:
        return serve_app(make_app(recorder), **options)

    return start


# --------------------------------------------------------------------------
# Real clients


def test_httpx_negotiates_h2_over_tls_and_sees_the_http2_scope(
    h2_server: Callable[..., InProcessServer],
    tls: TLSFiles,  # noqa: F811
) -> None:
    """RFC 9113 section 3.2 (ALPN "h2") and 8.3.1 (:authority as Host); the scope has
    the same fields as over HTTP/1.1, with http_version "2"."""
    server = h2_server(**tls.server_options(), root_path="/mount")
    url = f"https://127.0.0.1:{server.port}"
    with httpx.Client(http2=True, verify=tls.client_context(), timeout=10) as client:
        response = client.get(url + "/scope?q=1", headers={"x-test": "yes"})
    assert response.http_version == "HTTP/2"
    scope = response.json()
    assert scope["http_version"] == "2"
    assert scope["scheme"] == "https"
    assert scope["method"] == "GET" and scope["path"] == "/mount/scope"
    assert scope["query_string"] == "q=1" and scope["root_path"] == "/mount"
    headers = dict(scope["headers"])
    assert headers["host"] == f"127.0.0.1:{server.port}"
    assert headers["x-test"] == "yes"
    assert not any(name.startswith(":") for name, _ in scope["headers"])
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ["127.0.0.1", server.port]
    assert "tls" in scope["extensions"]
    assert scope["tls"]["tls_version"] in (0x0303, 0x0304)


def test_httpx_streams_uploads_and_many_concurrent_requests_over_one_connection(
    h2_server: Callable[..., InProcessServer],
    tls: TLSFiles,  # noqa: F811
) -> None:
    """RFC 9113 section 5: streams multiplexed on one connection, bodies in DATA frames."""
    server = h2_server(**tls.server_options())
    url = f"https://127.0.0.1:{server.port}"

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(http2=True, verify=tls.client_context(), timeout=10) as c:

            async def chunks() -> Any:
                for _ in range(20):
                    yield b"u" * 10_000

            upload = await c.post(url + "/echo", content=chunks())
            others = [c.get(url + f"/n{i}") for i in range(30)]
            return [upload, *await asyncio.gather(*others)]

    responses = asyncio.run(run())
    assert all(r.http_version == "HTTP/2" for r in responses)
    assert responses[0].json() == {"size": 200_000, "head": "u" * 16}
    assert [r.json()["path"] for r in responses[1:]] == [f"/n{i}" for i in range(30)]


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=20
    )


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("flag", ["--http2-prior-knowledge", "--http2"])
def test_curl_on_cleartext(h2_server: Callable[..., InProcessServer], flag: str) -> None:
    """RFC 9113 section 3.3 (prior knowledge) and RFC 7540 section 3.2 (Upgrade: h2c, which
    RFC 9113 deprecates but curl --http2 still sends)."""
    server = h2_server()
    url = f"http://127.0.0.1:{server.port}"
    result = _curl(flag, "-w", "\n%{http_version}", url + "/scope")
    body, version = result.stdout.rsplit("\n", 1)
    assert version == "2", result.stderr
    scope = json.loads(body)
    assert scope["http_version"] == "2" and scope["scheme"] == "http"
    result = _curl(flag, "-w", "\n%{http_version}", "--data-binary", "x" * 5000, url + "/echo")
    body, version = result.stdout.rsplit("\n", 1)
    # A request with a body is not upgraded (RFC 7540 section 3.2 lets a server ignore
    # Upgrade): served over HTTP/1.1, with its whole body.
    assert version == ("1.1" if flag == "--http2" else "2"), result.stderr
    assert json.loads(body)["size"] == 5000


@pytest.fixture(scope="session")
def nghttp2_tools() -> None:
    """nghttp and h2load (Debian's nghttp2-client): installed here when missing."""
    if shutil.which("nghttp") and shutil.which("h2load"):
        return
    apt = shutil.which("apt-get")
    if apt is not None:
        subprocess.run([apt, "update", "-q"], capture_output=True, timeout=300)
        subprocess.run(
            [apt, "install", "-y", "-q", "nghttp2-client"],
            capture_output=True,
            timeout=300,
            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    if not (shutil.which("nghttp") and shutil.which("h2load")):
        pytest.skip("nghttp2-client is not installed and could not be installed with apt-get")


def test_nghttp_get_and_upload(
    nghttp2_tools: None, h2_server: Callable[..., InProcessServer], tmp_path: Any
) -> None:
    """nghttp (prior knowledge, RFC 9113 section 3.3) with its own flow-control and
    priority habits: a GET, a POST with a body, both complete."""
    server = h2_server()
    url = f"http://127.0.0.1:{server.port}"
    result = subprocess.run(
        ["nghttp", "-v", "-t", "10", url + "/scope"], capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ":status: 200" in result.stdout
    assert '"http_version": "2"' in result.stdout
    upload = tmp_path / "upload"
    upload.write_bytes(b"n" * 300_000)
    result = subprocess.run(
        ["nghttp", "-t", "10", "-d", str(upload), url + "/echo"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["size"] == 300_000


def test_h2load_bounded_load_has_no_failures(
    nghttp2_tools: None, h2_server: Callable[..., InProcessServer]
) -> None:
    """h2load: 1000 requests, 4 connections, 10 streams each at a time; none fails."""
    server = h2_server()
    result = subprocess.run(
        ["h2load", "-n", "1000", "-c", "4", "-m", "10", f"http://127.0.0.1:{server.port}/x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(
        r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
        r"(\d+) failed, (\d+) errored",
        result.stdout,
    )
    assert match is not None, result.stdout
    assert match.groups() == ("1000", "1000", "1000", "0", "0"), result.stdout
    assert "status codes: 1000 2xx" in result.stdout


# --------------------------------------------------------------------------
# ASGI over HTTP/2


def test_cookie_crumbs_reach_the_app_joined(h2_server: Callable[..., InProcessServer]) -> None:
    """RFC 9113 section 8.2.3: cookie fields sent apart are one field, joined with "; "."""
    server = h2_server()
    client = H2Client(server.port)
    extra = [(b"cookie", b"a=1"), (b"x-other", b"o"), (b"cookie", b"b=2"), (b"cookie", b"c=3")]
    status, body = client.wait_response(client.request(b"/scope", extra=extra))
    client.close()
    assert status == 200
    headers = json.loads(body)["headers"]
    assert [value for name, value in headers if name == "cookie"] == ["a=1; b=2; c=3"]


def test_a_finished_stream_goes_by_reference_counting(
    h2_server: Callable[..., InProcessServer],
) -> None:
    """A stream and its request cycle hold no reference cycle once the app returned.

    With one, every request's objects (stream, cycle, scope, task, coroutine)
    waited for the cyclic GC, whose passes were 13% of an HTTP/2 request's
    instructions (docs/performance.md). The GC is off here, so a cycle keeps
    the streams alive and the wait fails.
    """
    server = h2_server()
    client = H2Client(server.port)
    assert client.wait_response(client.request(b"/warm"))[0] == 200
    gc.collect()
    gc.disable()
    try:
        for stream_id in [client.request(b"/path") for _ in range(20)]:
            assert client.wait_response(stream_id)[0] == 200

        def streams_alive() -> int:
            return sum(1 for each in gc.get_objects() if type(each) is H2Stream)

        wait_for(lambda: streams_alive() == 0)
    finally:
        gc.enable()
        client.close()


def test_a_stream_whose_app_does_not_read_stalls_no_other(
    h2_server: Callable[..., InProcessServer], recorder: Recorder
) -> None:
    """RFC 9113 section 5.2: flow control per stream. Stream 1's app reads nothing, so its
    window closes; stream 3 uploads far more than a window and is answered meanwhile."""
    server = h2_server()
    client = H2Client(server.port)
    held = client.request(b"/hold", b"POST", end=False)
    client.send_body(held, b"h" * 65535, end=False)  # Its whole window, unread.
    assert client.h2.local_flow_control_window(held) == 0
    other = client.request(b"/echo", b"POST", body=b"o" * 500_000)
    status, body = client.wait_response(other)
    assert status == 200 and json.loads(body)["size"] == 500_000
    assert held not in client.ended
    recorder.release.set()
    client.send_body(held, b"h" * 1000)
    status, body = client.wait_response(held)
    assert json.loads(body)["size"] == 66535
    client.close()


def test_a_client_with_a_tiny_window_gets_the_whole_body(
    h2_server: Callable[..., InProcessServer],
) -> None:
    """RFC 9113 section 6.9.1: the server never overruns the client's window, and sends
    the rest as WINDOW_UPDATEs open it."""
    server = h2_server()
    client = H2Client(server.port, settings={0x4: 100})  # INITIAL_WINDOW_SIZE
    status, body = client.wait_response(client.request(b"/big/300000"), timeout=30)
    client.close()
    assert status == 200 and body == b"z" * 300_000


def test_concurrent_large_bodies_arrive_whole_and_each_on_its_stream(
    h2_server: Callable[..., InProcessServer],
) -> None:
    """RFC 9113 sections 5 and 6.1: interleaved DATA frames of several streams, each
    body as sent. The payloads go out from the app's own buffers (H2Engine's
    outgoing_pieces, written with writelines), not copied into one write."""
    server = h2_server()
    client = H2Client(server.port, settings={0x4: 2**20})  # INITIAL_WINDOW_SIZE
    client.h2.increment_flow_control_window(2**24)
    client.flush()
    sizes = {seed: 300_000 + 7_777 * seed for seed in range(6)}
    streams = {
        client.request(b"/random/%d/%d" % (size, seed)): seed for seed, size in sizes.items()
    }
    for stream_id, seed in streams.items():
        status, body = client.wait_response(stream_id, timeout=30)
        assert status == 200
        assert body == random.Random(seed).randbytes(sizes[seed]), f"stream {stream_id}"
    client.close()


@pytest.mark.parametrize("how", ["RST_STREAM", "connection loss"])
def test_the_app_hears_http_disconnect(
    h2_server: Callable[..., InProcessServer], recorder: Recorder, how: str
) -> None:
    """RFC 9113 section 6.4 (RST_STREAM ends the stream) and a closed connection: the app's
    receive() returns http.disconnect (ASGI HTTP spec)."""
    server = h2_server()
    client = H2Client(server.port)
    stream_id = client.request(b"/listen", b"POST", body=b"part", end=False)
    wait_for(lambda: len(recorder.messages.get("/listen", [])) == 1)
    if how == "RST_STREAM":
        client.h2.reset_stream(stream_id, CANCEL)
        client.flush()
    else:
        client.close()
    wait_for(lambda: len(recorder.messages["/listen"]) == 2)
    assert recorder.messages["/listen"] == [
        {"type": "http.request", "more_body": True},
        {"type": "http.disconnect"},
    ]
    client.close()


def test_app_failures_500_before_the_head_reset_after(
    h2_server: Callable[..., InProcessServer],
) -> None:
    """RFC 9113 section 8.1: a response cut short must not look complete: after the head
    the stream is reset (INTERNAL_ERROR); before it, hurtle answers 500."""
    server = h2_server()
    client = H2Client(server.port)
    status, body = client.wait_response(client.request(b"/raise"))
    assert status == 500 and body == b"Internal Server Error\n"
    broken = client.request(b"/raise-after-head")
    client.wait(lambda: broken in client.reset)
    assert client.reset[broken] == INTERNAL_ERROR
    assert client.status[broken] == 200 and broken not in client.ended
    # The connection goes on.
    assert client.wait_response(client.request(b"/ok"))[0] == 200
    client.close()


@pytest.mark.parametrize(
    ("method", "path"), [(b"HEAD", b"/ok"), (b"GET", b"/status/204"), (b"GET", b"/status/304")]
)
def test_head_204_and_304_have_no_body(
    h2_server: Callable[..., InProcessServer], method: bytes, path: bytes
) -> None:
    """RFC 9110 sections 9.3.2, 15.3.5 and 15.4.5; RFC 9113 section 8.1: the HEADERS frame
    ends the stream."""
    server = h2_server()
    client = H2Client(server.port)
    status, body = client.wait_response(client.request(path, method))
    client.close()
    assert body == b""
    fields = dict(client.headers[1])
    if method == b"HEAD":
        assert status == 200
    else:
        assert status == int(path[8:])
        assert b"content-length" not in fields


def test_connection_specific_response_fields_are_dropped(
    h2_server: Callable[..., InProcessServer],
) -> None:
    """RFC 9113 section 8.2.2: a response with keep-alive or upgrade is malformed; hurtle
    drops those fields from what the app sent (h2 on the client side would refuse it)."""
    server = h2_server()
    client = H2Client(server.port)
    status, body = client.wait_response(client.request(b"/hop"))
    client.close()
    names = [name for name, _ in client.headers[1]]
    assert status == 200 and body == b"ok"
    assert b"x-ok" in names and b"keep-alive" not in names and b"upgrade" not in names


# --------------------------------------------------------------------------
# Limits


def test_too_many_header_fields_get_431(h2_server: Callable[..., InProcessServer]) -> None:
    """--limit-request-headers (RFC 6585 section 5) on one stream; the connection goes on."""
    server = h2_server(limit_request_headers=10)
    client = H2Client(server.port)
    extra = [(b"x-%d" % i, b"v") for i in range(20)]
    status, _ = client.wait_response(client.request(b"/ok", extra=extra))
    assert status == 431
    assert client.wait_response(client.request(b"/ok"))[0] == 200
    client.close()


def test_a_body_over_the_limit_gets_413(h2_server: Callable[..., InProcessServer]) -> None:
    """--limit-request-body (RFC 9110 section 15.5.14), the app never sees the whole body."""
    server = h2_server(limit_request_body=1000)
    client = H2Client(server.port)
    stream_id = client.request(b"/echo", b"POST", body=b"b" * 5000)
    status, _ = client.wait_response(stream_id)
    assert status == 413
    assert client.wait_response(client.request(b"/echo", b"POST", body=b"b" * 10))[0] == 200
    client.close()


def test_limit_concurrency_answers_503_per_stream(
    h2_server: Callable[..., InProcessServer], recorder: Recorder
) -> None:
    """--limit-concurrency: past it a stream gets 503 (RFC 9110 section 15.6.4), not the
    whole connection."""
    server = h2_server(limit_concurrency=1)
    client = H2Client(server.port)
    slow = client.request(b"/slow")
    wait_for(lambda: "/slow" in recorder.started)
    status, _ = client.wait_response(client.request(b"/ok"))
    assert status == 503
    assert dict(client.headers[3])[b"retry-after"] == b"1"
    recorder.release.set()
    assert client.wait_response(slow)[0] == 200
    client.close()


def test_a_peer_that_never_opens_its_window_is_reset_after_timeout_write(
    h2_server: Callable[..., InProcessServer],
) -> None:
    """--timeout-write for HTTP/2: a stream with no window (RFC 9113 section 6.9) for that
    long is reset (CANCEL), and the app hears of it."""
    server = h2_server(timeout_write=1)
    client = H2Client(server.port, settings={0x4: 0}, auto_ack=False)
    stream_id = client.request(b"/big/100000")
    client.wait(lambda: stream_id in client.reset, timeout=15)
    assert client.reset[stream_id] == CANCEL
    client.close()


def test_keep_alive_idle_ends_with_goaway(h2_server: Callable[..., InProcessServer]) -> None:
    """--timeout-keep-alive: an idle HTTP/2 connection is closed with GOAWAY NO_ERROR
    (RFC 9113 section 6.8) naming the last stream it served."""
    server = h2_server(timeout_keep_alive=1)
    client = H2Client(server.port)
    assert client.wait_response(client.request(b"/ok"))[0] == 200
    client.wait(lambda: client.closed, timeout=15)
    assert client.goaways and client.goaways[-1] == (0, 1)


def test_limit_requests_per_connection_ends_with_goaway(
    h2_server: Callable[..., InProcessServer], recorder: Recorder
) -> None:
    """--limit-requests-per-connection: GOAWAY after the last one (RFC 9113 section 6.8);
    the requests in flight complete, then the connection closes. (Raw frames: h2 as a
    client stops taking frames once it has seen a GOAWAY.)"""
    server = h2_server(limit_requests_per_connection=2)
    raw = RawConnection(server.port)
    raw.send(raw.writer.headers(1, request_headers(b"/slow")))
    raw.send(raw.writer.headers(3, request_headers(b"/slow")))
    frames = raw.read_until(lambda frames: len(goaways(frames)) >= 2)
    assert [(f.error_code, f.last_stream_id) for f in goaways(frames)] == [
        (0, 2**31 - 1),
        (0, 3),
    ]
    recorder.release.set()
    frames = raw.read_to_close()
    assert raw.closed
    ended = {f.stream_id for f in frames if isinstance(f, DataFrame) and "END_STREAM" in f.flags}
    assert ended == {1, 3}
    raw.close()


def test_graceful_shutdown_finishes_streams_in_flight_and_refuses_new_ones(
    h2_server: Callable[..., InProcessServer], recorder: Recorder
) -> None:
    """RFC 9113 section 6.8: GOAWAY 2^31-1, then GOAWAY with the last stream processed;
    that stream still completes, a later one gets REFUSED_STREAM."""
    server = h2_server(timeout_graceful_shutdown=10)
    raw = RawConnection(server.port)
    raw.send(raw.writer.headers(1, request_headers(b"/slow")))
    wait_for(lambda: "/slow" in recorder.started)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    try:
        frames = raw.read_until(lambda frames: len(goaways(frames)) >= 2)
        assert [(f.error_code, f.last_stream_id) for f in goaways(frames)] == [
            (0, 2**31 - 1),
            (0, 1),
        ]
        # A stream opened after the final GOAWAY (a client should not; this one does).
        raw.send(raw.writer.headers(3, request_headers(b"/late")))
        frames = raw.read_until(lambda frames: 3 in resets(frames))
        assert resets(frames) == {3: REFUSED_STREAM}
        recorder.release.set()
        frames = raw.read_until(
            lambda frames: any(isinstance(f, DataFrame) and "END_STREAM" in f.flags for f in frames)
        )
        body = b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == 1)
        assert json.loads(body) == {"done": True}
        assert "/late" not in recorder.started
        raw.read_to_close()
        assert raw.closed
    finally:
        recorder.release.set()
        stopper.join(20)
        raw.close()


def goaways(frames: list[Frame]) -> list[GoAwayFrame]:
    return [frame for frame in frames if isinstance(frame, GoAwayFrame)]
