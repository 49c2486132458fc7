"""Apps that exercise the command line: factories, attribute paths, environment, lifespan."""

from __future__ import annotations

import json
import os

from apps.basic import app as basic_app
from apps.basic import read_body, respond
from hurtle.asgi.types import ASGIApp, Receive, Scope, Send


def create_app() -> ASGIApp:
    """A factory for `--factory apps.cli_apps:create_app`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        await respond(send, 200, b"made by the factory")

    return app


class _Holder:
    """An object carrying an app, for `apps.cli_apps:holder.app`."""

    app = staticmethod(basic_app)

    async def nested(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        await respond(send, 200, b"found through an attribute path")


holder = _Holder()


async def environ_app(scope: Scope, receive: Receive, send: Send) -> None:
    """GET /NAME answers the value of os.environ[NAME] as JSON (null if unset)."""
    if scope["type"] != "http":
        return
    await read_body(receive)
    name = scope["path"].lstrip("/")
    body = json.dumps({"name": name, "value": os.environ.get(name)}).encode()
    await respond(send, 200, body, [(b"content-type", b"application/json")])


async def http_only_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An app written without lifespan support, as many are."""
    assert scope["type"] == "http", f"unsupported scope type {scope['type']!r}"
    await read_body(receive)
    await respond(send, 200, b"http only")
