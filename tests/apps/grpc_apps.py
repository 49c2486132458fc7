"""A gRPC service as an ASGI app, on connectrpc's ASGI server (tests/e2e/test_grpc.py).

connectrpc (Connect RPC's Python runtime) speaks the gRPC protocol over
ASGI: length-prefixed messages in the body, and the status in trailers
(`http.response.trailers`), so a server without that extension cannot serve
it. The service is described by hand (`MethodInfo` and `Endpoint`, what
protoc-gen-connectrpc would generate from a .proto), and its messages are
raw bytes, with a codec that passes them through: gRPC frames messages
without looking into them, and the grpcio client takes identity
(de)serialisers, so neither side needs generated protobuf classes. The
.proto it stands for:

    service Test {
      rpc Echo(Bytes) returns (Bytes);                  // unary
      rpc Count(Bytes) returns (stream Bytes);          // server streaming
      rpc Join(stream Bytes) returns (Bytes);           // client streaming
      rpc Upper(stream Bytes) returns (stream Bytes);   // bidirectional
      rpc Fail(Bytes) returns (Bytes);                  // a non-OK status
      rpc Wait(Bytes) returns (Bytes);                  // waits for the client to give up
    }
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from protobuf.wkt.google.protobuf.wrappers_pb import StringValue

from hurtle.asgi.types import Message, Receive, Scope, Send

SERVICE = "hurtle.test.Test"

# What the app saw, for the tests to assert on: each ASGI message its receive()
# returned, by request path, and the calls whose handler was cancelled.
RECEIVED: dict[str, list[str]] = {}
CANCELLED: list[str] = []


class BytesCodec:
    """The "proto" codec of a service whose messages are opaque bytes."""

    def name(self) -> str:
        return "proto"

    def encode(self, message: bytes) -> bytes:
        return message

    def decode(self, data: bytes | bytearray, message_class: type[Any]) -> bytes:
        return bytes(data)


def _method(name: str, kind: StreamType) -> MethodInfo[bytes, bytes]:
    return MethodInfo(
        name=name,
        service_name=SERVICE,
        input=bytes,
        output=bytes,
        idempotency_level=IdempotencyLevel.UNKNOWN,
        stream_type=kind,
    )


class TestService:
    async def echo(self, request: bytes, ctx: RequestContext[Any, Any]) -> bytes:
        return b"echo:" + request

    async def count(self, request: bytes, ctx: RequestContext[Any, Any]) -> AsyncIterator[bytes]:
        for number in range(int(request)):
            yield b"%d" % number

    async def join(self, requests: AsyncIterator[bytes], ctx: RequestContext[Any, Any]) -> bytes:
        return b",".join([request async for request in requests])

    async def upper(
        self, requests: AsyncIterator[bytes], ctx: RequestContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request.upper()

    async def fail(self, request: bytes, ctx: RequestContext[Any, Any]) -> bytes:
        ctx.response_trailers["x-failed-with"] = request.decode()
        raise ConnectError(
            Code.FAILED_PRECONDITION,
            "the precondition does not hold",
            details=[StringValue(value="the detail")],
        )

    async def wait(self, request: bytes, ctx: RequestContext[Any, Any]) -> bytes:
        try:
            await asyncio.sleep(30)  # Bounded; the test's client gives up long before.
        except asyncio.CancelledError:
            CANCELLED.append("Wait")
            raise
        return b"too late"


def _endpoints(service: TestService) -> Mapping[str, Any]:
    prefix = f"/{SERVICE}/"
    return {
        prefix + "Echo": Endpoint.unary(_method("Echo", StreamType.UNARY), service.echo),
        prefix + "Count": Endpoint.server_stream(
            _method("Count", StreamType.SERVER_STREAM), service.count
        ),
        prefix + "Join": Endpoint.client_stream(
            _method("Join", StreamType.CLIENT_STREAM), service.join
        ),
        prefix + "Upper": Endpoint.bidi_stream(
            _method("Upper", StreamType.BIDI_STREAM), service.upper
        ),
        prefix + "Fail": Endpoint.unary(_method("Fail", StreamType.UNARY), service.fail),
        prefix + "Wait": Endpoint.unary(_method("Wait", StreamType.UNARY), service.wait),
    }


class TestApplication(ConnectASGIApplication[TestService]):
    @property
    def path(self) -> str:
        return f"/{SERVICE}/"


_connect_app = TestApplication(service=TestService(), endpoints=_endpoints, codecs=[BytesCodec()])


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The service, with what its receive() returned recorded.

    The client's `grpc-timeout` is dropped from the request: connectrpc
    enforces it itself, and the Wait test is about the client giving up (its
    deadline resets the stream) reaching the app as `http.disconnect`.
    """
    if scope["type"] != "http":
        await _connect_app(scope, receive, send)  # type: ignore[arg-type]
        return
    path = scope["path"]
    seen = RECEIVED.setdefault(path, [])
    scope = {**scope, "headers": [(n, v) for n, v in scope["headers"] if n != b"grpc-timeout"]}

    async def recording_receive() -> Message:
        message = await receive()
        seen.append(message["type"])
        return message

    await _connect_app(scope, recording_receive, send)  # type: ignore[arg-type]
