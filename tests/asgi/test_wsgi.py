"""WSGI (PEP 3333) and ASGI 2 apps through a real hurtle, and `--interface`.

In-process servers (both event loops) where a test needs to see inside the
app (apps/wsgi_apps.py records events); `python -m hurtle` subprocesses for
the command line, logging and shutdown.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest

from apps import wsgi_apps
from apps.basic import app as basic_app
from apps.basic import respond
from hurtle.asgi.interface import detect
from hurtle.asgi.types import Receive, Scope, Send
from hurtle.asgi.wsgi import WSGIAdapter
from support import InProcessServer, ServerProcess, parse_responses, raw_request, read_until

Serve = Callable[..., InProcessServer]
Start = Callable[..., ServerProcess]


@pytest.fixture(autouse=True)
def fresh_events() -> None:
    wsgi_apps.EVENTS.clear()
    wsgi_apps.RELEASE.clear()
    wsgi_apps.PRODUCED[0] = 0


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def wait_for_event(event: str, timeout: float = 10.0) -> None:
    assert wait_for(lambda: event in wsgi_apps.EVENTS, timeout), wsgi_apps.EVENTS


# -- the environ ------------------------------------------------------------------


def test_environ_is_complete(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app, root_path="/mount")
    response = httpx.post(
        server.url + "/caf%C3%A9/environ?q=a+b&x=%20",
        content=b"the body",
        headers=[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("X-Dup", "1"),
            ("X-Dup", "2"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("X-Under_Score", "spoofed"),
            ("X-Under-Score", "real"),
        ],
    )
    assert response.status_code == 200, response.text
    environ = response.json()
    assert environ["REQUEST_METHOD"] == "POST"
    # root_path is the SCRIPT_NAME; PATH_INFO is the rest, percent-decoded
    # and its bytes read as latin-1 (PEP 3333 native strings).
    assert environ["SCRIPT_NAME"] == "/mount"
    assert environ["PATH_INFO"] == "/caf\xc3\xa9/environ"
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café/environ"
    assert environ["QUERY_STRING"] == "q=a+b&x=%20"
    assert environ["CONTENT_TYPE"] == "text/plain; charset=utf-8"
    assert environ["CONTENT_LENGTH"] == "8"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(server.port)
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"].isdigit()
    assert environ["HTTP_HOST"] == f"127.0.0.1:{server.port}"
    # RFC 3875 4.1.18 / RFC 9110 5.3: repeated fields become one, comma-joined;
    # cookies are joined with "; " (RFC 9113 8.2.3), a comma not being a separator.
    assert environ["HTTP_X_DUP"] == "1, 2"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    # A name with "_" cannot be told from its "-" twin once in the environ: dropped.
    assert environ["HTTP_X_UNDER_SCORE"] == "real"
    assert environ["wsgi.version"] == [1, 0]
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is False
    assert environ["wsgi.run_once"] is False
    assert environ["wsgi.input_terminated"] is True
    assert environ["input methods"] == ["read", "readline", "readlines", "__iter__"]
    assert environ["errors methods"] == ["write", "writelines", "flush"]
    assert environ["body"] == "the body"


def test_environ_of_a_get_without_body(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    environ = httpx.get(server.url + "/environ").json()
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SCRIPT_NAME"] == ""
    assert environ["PATH_INFO"] == "/environ"
    assert environ["QUERY_STRING"] == ""
    assert "CONTENT_LENGTH" not in environ
    assert environ["body"] == ""


# -- wsgi.input ---------------------------------------------------------------------

BODY = b"ab\ncdef\n\ngh"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("read", ["ab\ncdef\n\ngh"]),
        ("read-n", ["ab\nc", "def\n", "\ngh"]),
        ("readline", ["ab\n", "cdef\n", "\n", "gh"]),
        ("readline-n", ["ab\n", "cdef\n", "\ngh"]),
        ("iter", ["ab\n", "cdef\n", "\n", "gh"]),
        ("readlines", ["ab\n", "cdef\n", "\n", "gh"]),
    ],
)
def test_input_file_methods(serve_app: Serve, mode: str, expected: list[str]) -> None:
    server = serve_app(wsgi_apps.app)

    def pieces() -> Iterable[bytes]:
        # Several small pieces, so that reads cross message boundaries.
        for i in range(0, len(BODY), 3):
            yield BODY[i : i + 3]

    response = httpx.post(server.url + "/read?" + mode, content=pieces())
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_chunked_request_body_is_read_to_its_end(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    reply = raw_request(
        server.port,
        b"POST /read?read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    )
    (response,), _ = parse_responses(reply, ["POST"])
    assert response.status == 200
    assert response.body == b'["abcdefg"]'


def test_input_streams_the_body_as_it_arrives(serve_app: Serve) -> None:
    """A body that arrives slowly is readable in pieces before it is complete."""
    server = serve_app(wsgi_apps.app)
    rest = b"and the rest of it"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /slow-body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\nfirst\n" % (6 + len(rest))
        )
        # The app answers the first line while the client still holds the rest.
        head = read_until(sock, b"first line: first\n")
        assert b"first line: first\n" in head
        sock.sendall(rest)
        tail = read_until(sock, b"0\r\n\r\n")
    assert b"rest: " + rest in head + tail
    wait_for_event("closed slow-body")


def test_large_upload_round_trip(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    body = bytes(range(256)) * 8192  # 2 MiB: many messages, backpressure on the way
    response = httpx.post(server.url + "/read?read-n", content=body, timeout=30)
    assert response.status_code == 200
    assert "".join(response.json()).encode("latin-1") == body


# -- start_response, write(), the iterable -------------------------------------------


def test_write_callable(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    response = httpx.get(server.url + "/write")
    assert response.status_code == 200
    assert response.text == "written then returned"


def test_exc_info_replaces_a_response_not_yet_sent(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    response = httpx.get(server.url + "/replace-before-sent")
    assert response.status_code == 503
    assert response.text == "replaced by the error page"


def test_exc_info_after_headers_were_sent_reraises(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    reply = raw_request(
        server.port, b"GET /replace-after-sent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    # PEP 3333: start_response re-raises; the response cannot be completed,
    # so the connection is cut rather than the body looking complete.
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"partial" in reply
    assert not reply.endswith(b"0\r\n\r\n")
    wait_for_event("re-raised the view failed late")


def test_start_response_twice_without_exc_info_is_an_error(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    response = httpx.get(server.url + "/twice")
    assert response.status_code == 500
    assert any(
        e.startswith("refused: start_response() called a second time") for e in wsgi_apps.EVENTS
    )


@pytest.mark.parametrize("path", ["/no-start", "/raise", "/bad-header"])
def test_app_errors_before_the_response_are_500(serve_app: Serve, path: str) -> None:
    server = serve_app(wsgi_apps.app)
    response = httpx.get(server.url + path)
    assert response.status_code == 500
    assert response.text == "Internal Server Error\n"


def test_close_is_called_after_a_normal_response(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    response = httpx.get(server.url + "/closing")
    assert response.text == "one two"
    assert response.headers["transfer-encoding"] == "chunked"
    wait_for_event("closed closing")


def test_list_response_gets_content_length(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    response = httpx.get(server.url + "/write")
    assert "content-length" not in response.headers  # write() streams
    response = httpx.get(server.url + "/replace-before-sent")
    assert response.headers["content-length"] == str(len(b"replaced by the error page"))


def test_empty_iterable_and_head(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    response = httpx.get(server.url + "/empty-generator")
    assert response.status_code == 204
    assert response.headers["x-note"] == "no body"
    wait_for_event("closed empty")
    response = httpx.head(server.url + "/closing")
    assert response.status_code == 200 and response.content == b""
    wait_for_event("closed closing")


def test_file_wrapper(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app)
    response = httpx.get(server.url + "/file")
    assert response.status_code == 200
    with open(wsgi_apps.__file__, "rb") as handle:
        assert response.content == handle.read()
    assert wait_for(lambda: bool(wsgi_apps.FILES) and wsgi_apps.FILES[-1].closed)


def test_response_backpressure_and_close_on_disconnect(serve_app: Serve) -> None:
    """Chunks are pulled only as fast as the client reads; close() runs when it leaves."""
    server = serve_app(wsgi_apps.app)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        read_until(sock, b"xxxx")
        # The client stops reading: the app is paused once the buffers are full.
        assert wait_for(lambda: wsgi_apps.PRODUCED[0] > 0)
        time.sleep(0.5)
        produced = wsgi_apps.PRODUCED[0]
        time.sleep(0.3)
        assert wsgi_apps.PRODUCED[0] - produced <= 2
        assert produced < 400, "4000 chunks of 256 KiB: the iteration must wait for the client"
    # The client has gone: sending fails, the iteration stops, close() is called.
    wait_for_event("closed flood")
    assert wsgi_apps.PRODUCED[0] < 4000


# -- threads -----------------------------------------------------------------------------


def test_slow_view_blocks_only_its_own_thread(serve_app: Serve) -> None:
    """While a WSGI view blocks, an async view and another WSGI view still answer."""
    wsgi = WSGIAdapter(wsgi_apps.app, threads=4)

    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/async":
            await respond(send, 200, b"async answered")
        else:
            await wsgi(scope, receive, send)

    server = serve_app(both)
    results: list[str] = []

    def blocked_request() -> None:
        results.append(httpx.get(server.url + "/block", timeout=30).text)

    thread = threading.Thread(target=blocked_request)
    thread.start()
    try:
        assert wait_for(lambda: wsgi.threads.started >= 1)
        with httpx.Client(timeout=10) as client:
            assert client.get(server.url + "/async").text == "async answered"
            assert client.get(server.url + "/thread").text.startswith("hurtle-wsgi-")
        assert results == []  # still blocked
    finally:
        wsgi_apps.RELEASE.set()
        thread.join(30)
    assert results == ["released"]


def test_thread_pool_is_bounded(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.app, wsgi_threads=2)
    results: list[str] = []

    def request() -> None:
        results.append(httpx.get(server.url + "/block", timeout=30).text)

    threads = [threading.Thread(target=request) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        assert wait_for(lambda: wsgi_apps.EVENTS.count("blocking") == 2)
        time.sleep(0.2)
        assert wsgi_apps.EVENTS.count("blocking") == 2  # the third waits for a thread
        # So does any other WSGI request.
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(server.url + "/thread", timeout=0.5)
    finally:
        wsgi_apps.RELEASE.set()
        for thread in threads:
            thread.join(30)
    assert results == ["released"] * 3
    names = {httpx.get(server.url + "/thread").text for _ in range(5)}
    assert names <= {"hurtle-wsgi-0", "hurtle-wsgi-1"}


def test_slow_view_and_shutdown_through_the_command_line(hurtle_process: Start) -> None:
    """A real `hurtle --wsgi-threads 2`: a sleeping view blocks nobody, nor the shutdown."""
    server = hurtle_process(
        "apps.wsgi_apps:app", "--wsgi-threads", "2", "--timeout-graceful-shutdown", "0.5"
    )
    assert any("as a WSGI app on up to 2 threads" in line for line in server.lines)
    sleeper = threading.Thread(target=_get_ignoring_errors, args=(server.url + "/sleep?60",))
    sleeper.start()
    with httpx.Client(timeout=10) as client:
        assert wait_for(lambda: "sleeping" in client.get(server.url + "/events").json())
        assert client.get(server.url + "/thread").text.startswith("hurtle-wsgi-")
    # The view sleeps on; the graceful-shutdown timeout still ends the process
    # (the pool's threads are daemons: nothing joins a stuck view at exit).
    assert server.stop() == 0
    assert "still running after the graceful shutdown" in server.output
    sleeper.join(10)


def _get_ignoring_errors(url: str) -> None:
    try:
        httpx.get(url, timeout=60)
    except httpx.HTTPError:
        pass


def test_wsgi_errors_go_to_the_error_log(hurtle_process: Start) -> None:
    server = hurtle_process("apps.wsgi_apps:app")
    assert httpx.get(server.url + "/errors").text == "logged"
    expected = ["wsgi.errors: first line", "wsgi.errors: second line", "wsgi.errors: tail"]
    assert wait_for(lambda: all(e in server.output for e in expected)), server.output


# -- ASGI 2 --------------------------------------------------------------------------------


@pytest.mark.parametrize("interface", [[], ["--interface", "asgi2"]])
def test_asgi2_class_app(hurtle_process: Start, interface: list[str]) -> None:
    server = hurtle_process("apps.wsgi_apps:ASGI2App", "--lifespan", "on", *interface)
    response = httpx.post(server.url + "/where", content=b"posted")
    assert response.status_code == 200
    assert response.text == "asgi2 class POST /where posted"


def test_asgi2_function_app(serve_app: Serve) -> None:
    server = serve_app(wsgi_apps.asgi2_function)
    assert httpx.get(server.url + "/").text == "asgi2 function"


# -- --interface -----------------------------------------------------------------------


def test_forced_wsgi_interface(hurtle_process: Start) -> None:
    # `*args` says nothing about the interface: auto would assume ASGI 3.
    server = hurtle_process("apps.wsgi_apps:star_args", "--interface", "wsgi")
    assert httpx.get(server.url + "/").text == "star"


def test_auto_says_when_it_cannot_tell(hurtle_process: Start) -> None:
    server = hurtle_process("apps.wsgi_apps:star_args")
    assert "cannot tell the interface of apps.wsgi_apps.star_args" in server.output
    assert "(set --interface to choose)" in server.output


@pytest.mark.parametrize(
    ("app", "flag", "message"),
    [
        (
            "apps.wsgi_apps:app",
            "asgi3",
            "--interface asgi3 was given, but apps.wsgi_apps.app looks like a WSGI app, "
            "called as `app(environ, start_response)`; use --interface wsgi or --interface auto",
        ),
        (
            "apps.basic:app",
            "wsgi",
            "--interface wsgi was given, but apps.basic.app looks like an ASGI 3 app, called "
            "as `await app(scope, receive, send)`; use --interface asgi3",
        ),
        (
            "apps.wsgi_apps:ASGI2App",
            "wsgi",
            "--interface wsgi was given, but apps.wsgi_apps.ASGI2App looks like an ASGI 2 app",
        ),
        ("apps.wsgi_apps:app", "asgi2", "looks like a WSGI app"),
    ],
)
def test_app_that_is_not_what_the_flag_says(
    hurtle_process: Start, app: str, flag: str, message: str
) -> None:
    server = hurtle_process(app, "--interface", flag, wait=False)
    assert server.wait_exit() == 1
    assert f"hurtle: error: --interface {flag} was given, but " in server.output
    assert message in server.output


def test_bad_interface_value_is_a_usage_error(hurtle_process: Start) -> None:
    server = hurtle_process("apps.wsgi_apps:app", "--interface", "cgi", wait=False)
    assert server.wait_exit() == 2
    assert "--interface" in server.output


class _FlaskLike:
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return []


class _AsyncCallable:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pass


def _asgi3_returning_awaitable(scope: Scope, receive: Receive, send: Send) -> Any:
    return basic_app(scope, receive, send)


def _with_defaults(environ: Any, start_response: Any = None, extra: Any = None) -> Any:
    return []


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        (basic_app, ("asgi3",)),
        (_AsyncCallable(), ("asgi3",)),
        (_asgi3_returning_awaitable, ("asgi3",)),
        (wsgi_apps.app, ("wsgi",)),
        (_FlaskLike(), ("wsgi",)),
        (wsgi_apps.ASGI2App, ("asgi2",)),
        (wsgi_apps.asgi2_function, ("asgi2",)),
        (wsgi_apps.star_args, ()),
        (_with_defaults, ("asgi3", "wsgi", "asgi2")),
        (print, ()),
    ],
)
def test_detect(app: Any, expected: tuple[str, ...]) -> None:
    assert detect(app) == expected
