"""ASGI apps for the lifespan, graceful-shutdown and serving-API tests.

`markers` leaves a trace of what happened to it, one event per line, in
`$MARKER_DIR/events`, so a test can check the order of startup, requests and
shutdown of a server running in another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from hurtle.asgi.types import Receive, Scope, Send

MARKER_DIR = "MARKER_DIR"
STARTUP_DELAY = "MARKER_STARTUP_DELAY"

FAILED_MESSAGE = "the database is unreachable (marker 7f3a)"
RAISED_MESSAGE = "startup blew up (marker 9c1e)"
STARLETTE_MESSAGE = "starlette startup went wrong (marker 51d0)"


async def respond(
    send: Send, status: int, body: bytes, content_type: bytes = b"text/plain"
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type)],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, data: Any) -> None:
    await respond(send, 200, json.dumps(data).encode(), b"application/json")


async def drain_request(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


# --------------------------------------------------------------------------
# Events in a file: startup, requests, shutdown.


def read_events(directory: Path) -> list[str]:
    """The events `markers` recorded so far under `directory`."""
    try:
        return (directory / "events").read_text().split()
    except FileNotFoundError:
        return []


class MarkerApp:
    """Records its lifespan and request events in `$MARKER_DIR/events`.

    Routes: `/` answers whether startup had completed; `/slow?SECONDS` sleeps
    (recording `request-start`, then `request-end` or `request-cancelled`).
    """

    def __init__(self) -> None:
        self.started = False

    def record(self, event: str) -> None:
        directory = os.environ.get(MARKER_DIR)
        if directory:
            with open(os.path.join(directory, "events"), "a") as handle:
                handle.write(event + "\n")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        await drain_request(receive)
        if scope["path"] == "/slow":
            self.record("request-start")
            try:
                await asyncio.sleep(float(scope["query_string"] or b"1"))
            except asyncio.CancelledError:
                self.record("request-cancelled")
                raise
            self.record("request-end")
            await respond(send, 200, b"slow done")
        else:
            self.record("request")
            await respond(send, 200, b"started: yes" if self.started else b"started: no")

    async def lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.record("startup-begin")
                await asyncio.sleep(float(os.environ.get(STARTUP_DELAY, "0")))
                self.started = True
                self.record("startup-end")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.record("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return


markers = MarkerApp()


# --------------------------------------------------------------------------
# Lifespan state.


async def state_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Startup fills the state; `/mutate` changes its copy; `/` shows it."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"].update(counter=0, name="from startup", shared=[])
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await drain_request(receive)
    state = scope["state"]
    if scope["path"] == "/mutate":
        state["counter"] += 1
        state["added"] = "by a request"
        state["name"] = "changed by a request"
        state["shared"].append("appended")
    await respond_json(
        send,
        {
            "keys": sorted(state),
            "counter": state["counter"],
            "name": state["name"],
            "shared": state["shared"],
        },
    )


# --------------------------------------------------------------------------
# Startup failures.


async def startup_failed_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers lifespan.startup with lifespan.startup.failed."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": FAILED_MESSAGE})
        return
    await drain_request(receive)
    await respond(send, 200, b"should not be served")


async def startup_raises_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Receives lifespan.startup, then raises."""
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError(RAISED_MESSAGE)
    await drain_request(receive)
    await respond(send, 200, b"should not be served")


async def lifespan_rejecting_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An app without lifespan support: raises on any scope type but http."""
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope type {scope['type']!r}")
    await drain_request(receive)
    await respond(send, 200, b"plain http app")


@contextlib.asynccontextmanager
async def _failing_lifespan(app: Starlette) -> AsyncIterator[None]:
    raise RuntimeError(STARLETTE_MESSAGE)
    yield  # pragma: no cover - makes this a generator


starlette_failing_app = Starlette(lifespan=_failing_lifespan)


# --------------------------------------------------------------------------
# What the server called the app with.


class ScopeRecorder:
    """Records each scope type and lifespan message; `/seen` returns them."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(scope["type"])
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.seen.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await drain_request(receive)
        await respond_json(send, self.seen)


scope_recorder = ScopeRecorder()
