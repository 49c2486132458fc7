"""A Starlette app: routes, a WebSocket, lifespan state, StaticFiles and middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

STATIC = Path(__file__).parent / "static"


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield {"visits": [], "greeting": "hello from the Starlette lifespan"}


async def homepage(request: Request) -> Response:
    return PlainTextResponse("Starlette says hello")


async def user(request: Request) -> Response:
    # The list in lifespan state is shared by every request (the state is a shallow copy).
    request.state.visits.append(request.path_params["user_id"])
    return JSONResponse(
        {
            "user_id": request.path_params["user_id"],
            "query": dict(request.query_params),
            "greeting": request.state.greeting,
            "visits": len(request.state.visits),
            "url": str(request.url_for("user", user_id=7)),
        }
    )


async def echo(request: Request) -> Response:
    form = await request.form()
    return JSONResponse({key: str(value) for key, value in form.items()})


async def big(request: Request) -> Response:
    return PlainTextResponse("compress me " * 2000)


async def websocket_echo(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="echo.v1")
    try:
        async for text in websocket.iter_text():
            await websocket.send_text(f"{websocket.path_params['room']}: {text}")
    except WebSocketDisconnect:
        pass


class TimingHeader(BaseHTTPMiddleware):
    """A BaseHTTPMiddleware: the style most Starlette apps use."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["x-middleware"] = "base-http"
        return response


class PureASGIHeader:
    """A pure ASGI middleware that adds a header to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-pure-asgi", b"yes")]
            await send(message)

        await self.app(scope, receive, send_with_header)


app = Starlette(
    routes=[
        Route("/", homepage),
        Route("/users/{user_id:int}", user, name="user"),
        Route("/form", echo, methods=["POST"]),
        Route("/big", big),
        WebSocketRoute("/ws/{room}", websocket_echo),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ],
    middleware=[
        Middleware(PureASGIHeader),
        Middleware(TimingHeader),
        Middleware(GZipMiddleware, minimum_size=500),
    ],
    lifespan=lifespan,
)
