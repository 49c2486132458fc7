"""gRPC over HTTP/2: the official grpcio client calls a gRPC service written as an ASGI app.

The service is connectrpc's ASGI server (tests/apps/grpc_apps.py): it sends
each call's status in trailers, so every call here goes through
`http.response.trailers` over HTTP/2. Cleartext is h2c with prior knowledge
(grpcio's insecure channel starts with the HTTP/2 preface, which
net/connection.py recognises); TLS negotiates h2 with ALPN and the client
trusts the test CA.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import grpc
import pytest
from connectrpc._gen.google.rpc.status_pb import Status
from protobuf.wkt.google.protobuf.wrappers_pb import StringValue

from apps import grpc_apps
from e2e.test_tls import TLSFiles, tls  # noqa: F401 (the fixture)
from support import InProcessServer, wait_for

Serve = Callable[..., InProcessServer]
PREFIX = f"/{grpc_apps.SERVICE}/"
TIMEOUT = 10.0  # Every call that should succeed has this long.


@pytest.fixture(params=["h2c", "tls"])
def channel(
    request: pytest.FixtureRequest,
    serve_app: Serve,
    tls: TLSFiles,  # noqa: F811 (the fixture)
) -> Iterator[grpc.Channel]:
    grpc_apps.RECEIVED.clear()
    grpc_apps.CANCELLED.clear()
    if request.param == "h2c":
        server = serve_app(grpc_apps.app)
        opened = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    else:
        server = serve_app(grpc_apps.app, **tls.server_options())
        credentials = grpc.ssl_channel_credentials(root_certificates=tls.ca_file.read_bytes())
        opened = grpc.secure_channel(f"127.0.0.1:{server.port}", credentials)
    try:
        yield opened
    finally:
        opened.close()


def test_unary(channel: grpc.Channel) -> None:
    echo: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(PREFIX + "Echo")
    response, call = echo.with_call(b"hello", timeout=TIMEOUT)
    assert response == b"echo:hello"
    assert call.code() == grpc.StatusCode.OK
    assert ("server", "hurtle") in call.initial_metadata()


def test_server_streaming(channel: grpc.Channel) -> None:
    count: grpc.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(PREFIX + "Count")
    assert list(count(b"5", timeout=TIMEOUT)) == [b"0", b"1", b"2", b"3", b"4"]


def test_client_streaming(channel: grpc.Channel) -> None:
    join: grpc.StreamUnaryMultiCallable[bytes, bytes] = channel.stream_unary(PREFIX + "Join")
    assert join(iter([b"a", b"b", b"c"]), timeout=TIMEOUT) == b"a,b,c"


def test_bidirectional_streaming(channel: grpc.Channel) -> None:
    upper: grpc.StreamStreamMultiCallable[bytes, bytes] = channel.stream_stream(PREFIX + "Upper")
    assert list(upper(iter([b"one", b"two"]), timeout=TIMEOUT)) == [b"ONE", b"TWO"]


def test_a_non_ok_status_and_its_details_arrive_in_trailers(channel: grpc.Channel) -> None:
    fail: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(PREFIX + "Fail")
    with pytest.raises(grpc.RpcError) as raised:
        fail(b"why", timeout=TIMEOUT)
    error = raised.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "the precondition does not hold"
    trailing = dict(error.trailing_metadata() or ())
    assert trailing["x-failed-with"] == "why"
    status = Status.from_binary(trailing["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert StringValue.from_binary(status.details[0].value).value == "the detail"


def test_an_expired_deadline_reaches_the_app_as_http_disconnect(channel: grpc.Channel) -> None:
    wait: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(PREFIX + "Wait")
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as raised:
        wait(b"", timeout=0.5)
    assert isinstance(raised.value, grpc.Call)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < TIMEOUT
    # The client reset the stream: the app's receive() said http.disconnect,
    # and connectrpc cancelled the handler.
    wait_for(lambda: grpc_apps.CANCELLED == ["Wait"])
    assert grpc_apps.RECEIVED[PREFIX + "Wait"][-1] == "http.disconnect"


def test_a_cancelled_call_reaches_the_app_as_http_disconnect(channel: grpc.Channel) -> None:
    wait: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(PREFIX + "Wait")
    future = wait.future(b"", timeout=TIMEOUT)
    wait_for(lambda: "http.request" in grpc_apps.RECEIVED.get(PREFIX + "Wait", []))
    assert future.cancel()
    wait_for(lambda: grpc_apps.CANCELLED == ["Wait"])
    assert grpc_apps.RECEIVED[PREFIX + "Wait"][-1] == "http.disconnect"
