"""A Quart app: Flask's API on ASGI, with its serving hooks, streaming and a WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator

from quart import Quart, Response, abort, jsonify, request, websocket
from quart.typing import ResponseReturnValue

app = Quart(__name__)
STARTED: list[str] = []


@app.before_serving
async def startup() -> None:
    STARTED.append("before_serving")


@app.route("/")
async def index() -> str:
    return "Quart says hello"


@app.route("/json", methods=["POST"])
async def echo_json() -> ResponseReturnValue:
    data = await request.get_json()
    return jsonify({"received": data, "started": STARTED})


@app.route("/form", methods=["POST"])
async def form() -> ResponseReturnValue:
    values = await request.form
    files = await request.files
    upload = files.get("upload")
    content = upload.read() if upload is not None else b""
    return {"name": values.get("name"), "upload_size": len(content)}


@app.route("/stream")
async def stream() -> ResponseReturnValue:
    async def parts() -> AsyncIterator[bytes]:
        for word in (b"streamed ", b"by ", b"quart"):
            yield word

    return Response(parts(), content_type="text/plain")


@app.route("/teapot")
async def teapot() -> ResponseReturnValue:
    abort(418)


@app.websocket("/ws")
async def ws() -> None:
    while True:
        message = await websocket.receive()
        await websocket.send(f"quart echo: {message!s}")
