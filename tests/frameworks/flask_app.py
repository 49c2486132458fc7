"""A Flask app (WSGI): routing, JSON, forms, uploads, sessions, streaming, error handlers."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

from flask import Flask, Response, abort, jsonify, request, session, stream_with_context, url_for
from flask.typing import ResponseReturnValue

app = Flask(__name__)
app.secret_key = "only-for-tests"
TEARDOWNS: list[str] = []


@app.teardown_request
def teardown(exc: BaseException | None) -> None:
    TEARDOWNS.append(request.path)


@app.route("/")
def index() -> str:
    return "Flask says hello"


@app.route("/info")
def info() -> ResponseReturnValue:
    return jsonify(
        {
            "url_for": url_for("index", _external=False),
            "script_root": request.script_root,
            "path": request.path,
            "remote_addr": request.remote_addr,
            "args": request.args.to_dict(),
            "thread": threading.current_thread().name,
            "multithread": request.environ["wsgi.multithread"],
            "teardowns": len(TEARDOWNS),
        }
    )


@app.route("/json", methods=["POST"])
def echo_json() -> ResponseReturnValue:
    return jsonify({"received": request.get_json(), "content_length": request.content_length})


@app.route("/upload", methods=["POST"])
def upload() -> ResponseReturnValue:
    uploaded = request.files["file"]
    data = uploaded.read()
    return {
        "filename": uploaded.filename,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "field": request.form["field"],
    }


@app.route("/session")
def counter() -> ResponseReturnValue:
    session["count"] = session.get("count", 0) + 1
    return {"count": session["count"]}


@app.route("/stream")
def stream() -> Response:
    name = request.args.get("name", "world")

    def generate() -> Iterator[str]:
        # stream_with_context: the request is still there while the body is iterated.
        yield "hello "
        yield request.args.get("name", name)
        yield "!"

    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.route("/missing")
def missing() -> ResponseReturnValue:
    abort(404)


@app.route("/boom")
def boom() -> ResponseReturnValue:
    raise RuntimeError("a bug in a Flask view")


@app.errorhandler(404)
def not_found(error: Exception) -> ResponseReturnValue:
    return {"error": "not here"}, 404
