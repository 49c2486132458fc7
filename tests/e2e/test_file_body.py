"""http.response.pathsend and http.response.zerocopysend (asgiref docs/extensions.rst)
over real sockets, on both event loops: Starlette's FileResponse (which uses pathsend
when the scope advertises it) over HTTP/1.1 cleartext, TLS and HTTP/2, and raw apps for
the framing rules (RFC 9110 section 8.6, RFC 9112 section 6).

On cleartext HTTP/1.1 with a declared length the kernel sends the file
(net/zero_copy.py): a counter around its sendfile call shows it was used, and
not used where the file must be read (TLS, HTTP/2, chunked)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

import hurtle.net.zero_copy
from e2e.test_tls import TLSFiles, tls  # noqa: F401 (the fixture)
from h2_frames import H2Client
from hurtle.asgi.types import Receive, Scope, Send
from support import InProcessServer, read_to_eof

Serve = Callable[..., InProcessServer]

SIZE = 3 * 1024 * 1024 + 17  # Several socket buffers and pieces, and an odd tail.


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "big.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The byte counts of each sendfile(2) net/zero_copy.py made."""
    calls: list[int] = []

    def counting(out: int, fd: int, offset: int | None, count: int) -> int:
        sent = os.sendfile(out, fd, offset, count)
        calls.append(sent)
        return sent

    monkeypatch.setattr(hurtle.net.zero_copy, "sendfile", counting)
    yield calls


def starlette_app(path: Path) -> Starlette:
    async def download(request: Any) -> FileResponse:
        return FileResponse(path, media_type="application/octet-stream")

    return Starlette(routes=[Route("/file", download)])


def scope_extensions_app() -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = ",".join(sorted(scope["extensions"])).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def test_extensions_are_advertised(serve_app: Serve) -> None:
    server = serve_app(scope_extensions_app())
    names = httpx.get(server.url + "/").text.split(",")
    assert "http.response.pathsend" in names and "http.response.zerocopysend" in names


def test_starlette_file_over_cleartext_http11_goes_by_sendfile(
    serve_app: Serve, big_file: Path, sendfile_calls: list[int]
) -> None:
    server = serve_app(starlette_app(big_file))
    with httpx.Client(timeout=30) as client:
        for _ in range(2):  # The connection stays usable after a file.
            response = client.get(server.url + "/file")
            assert response.status_code == 200
            assert response.headers["content-length"] == str(SIZE)
            assert response.content == big_file.read_bytes()
    assert sum(sendfile_calls) == 2 * SIZE


def test_starlette_file_over_tls_is_read_in_pieces(
    serve_app: Serve,
    big_file: Path,
    sendfile_calls: list[int],
    tls: TLSFiles,  # noqa: F811
) -> None:
    server = serve_app(starlette_app(big_file), **tls.server_options())
    url = f"https://127.0.0.1:{server.port}/file"
    for http2 in (False, True):
        with httpx.Client(http2=http2, verify=tls.client_context(), timeout=30) as client:
            response = client.get(url)
        assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        assert response.status_code == 200
        assert response.content == big_file.read_bytes()
    assert sendfile_calls == []


def test_starlette_file_over_cleartext_http2(
    serve_app: Serve, big_file: Path, sendfile_calls: list[int]
) -> None:
    """HTTP/2 flow control holds the file back until the client opens its window."""
    server = serve_app(starlette_app(big_file))
    client = H2Client(server.port)
    try:
        stream_id = client.request(b"/file")
        status, body = client.wait_response(stream_id, timeout=30)
    finally:
        client.close()
    assert status == 200
    assert dict(client.headers[stream_id])[b"content-length"] == str(SIZE).encode()
    assert body == big_file.read_bytes()
    assert sendfile_calls == []


def file_app(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers or []})
        await send({"type": "http.response.pathsend", "path": path})

    return app


def get_raw(port: int, version: bytes = b"1.1") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /f HTTP/" + version + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        return read_to_eof(sock, timeout=30)


def test_without_content_length_the_file_is_chunked(
    serve_app: Serve, big_file: Path, sendfile_calls: list[int]
) -> None:
    """RFC 9112 section 7.1: no declared length, so every piece read is one chunk."""
    server = serve_app(file_app(str(big_file)))
    response = httpx.get(server.url + "/f", timeout=30)
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.content == big_file.read_bytes()
    assert sendfile_calls == []


@pytest.mark.parametrize("path", ["/no/such/file", "relative/path"])
def test_a_missing_file_or_relative_path_is_a_clean_500(serve_app: Serve, path: str) -> None:
    """The file is opened in the app's send, before the held head went out."""
    server = serve_app(file_app(path, [(b"x-app", b"1")]))
    reply = get_raw(server.port)
    assert reply.startswith(b"HTTP/1.1 500 "), reply
    assert b"x-app" not in reply


@pytest.mark.parametrize("declared_more", [True, False])
def test_a_file_that_disagrees_with_its_content_length_never_desynchronises(
    serve_app: Serve, tmp_path: Path, declared_more: bool
) -> None:
    """RFC 9110 section 8.6: never more than declared; a body shorter than declared must
    not look complete, so the connection closes."""
    data = os.urandom(200_000)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    declared = len(data) + 100 if declared_more else len(data) - 100
    headers = [(b"content-length", b"%d" % declared)]
    server = serve_app(file_app(str(path), headers))
    reply = get_raw(server.port)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == data[:declared]


def test_a_short_file_resets_the_http2_stream(serve_app: Serve, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    server = serve_app(file_app(str(path), [(b"content-length", b"2000")]))
    client = H2Client(server.port)
    try:
        stream_id = client.request(b"/f")
        client.wait(lambda: stream_id in client.reset or stream_id in client.ended)
    finally:
        client.close()
    assert stream_id in client.reset and stream_id not in client.ended


def test_zerocopysend_with_offset_count_and_more_body(
    serve_app: Serve, big_file: Path, sendfile_calls: list[int]
) -> None:
    """extensions.rst: `offset` and `count` pick the range; `more_body` lets the app go on."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"%d" % (3 + 100_000 + 3))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"<<<", "more_body": True})
        with open(big_file, "rb") as file:  # noqa: ASYNC230 (a test app, a local file)
            message = {
                "type": "http.response.zerocopysend",
                "file": file,
                "offset": 1000,
                "count": 100_000,
                "more_body": True,
            }
            await send(message)
        await send({"type": "http.response.body", "body": b">>>"})

    server = serve_app(app)
    with httpx.Client(timeout=30) as client:
        for _ in range(2):
            response = client.get(server.url + "/")
            assert response.content == b"<<<" + big_file.read_bytes()[1000:101_000] + b">>>"
    assert sum(sendfile_calls) == 2 * 100_000


def test_a_client_that_reads_nothing_is_cut_off_by_the_write_timeout(
    serve_app: Serve, tmp_path: Path
) -> None:
    """--timeout-write holds while the kernel sends the file, as for any write."""
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as file:
        file.truncate(256 * 1024 * 1024)  # Sparse: far more than the socket buffers hold.
    server = serve_app(starlette_app(huge), timeout_write=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(2.0)  # Read nothing: the server's writes stall.
        received = read_to_eof(sock, timeout=10)
    assert len(received) < 256 * 1024 * 1024
