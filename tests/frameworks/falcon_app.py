"""Falcon, twice: `asgi_app` (falcon.asgi.App, async responders) and `wsgi_app` (falcon.App,
sync responders), with the same routes, so one test module drives both."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import falcon
import falcon.asgi


class AsyncThings:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"interface": "asgi", "path": req.path, "query": req.params}

    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        media: Any = await req.get_media()
        resp.status = falcon.HTTP_201
        resp.media = {"received": media}


class AsyncStream:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(4):
                yield b"chunk %d;" % i

        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = chunks()


class AsyncUpload:
    async def on_put(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        total = 0
        async for chunk in req.stream:
            total += len(chunk)
        resp.media = {"size": total}


class SyncThings:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "interface": "wsgi",
            "path": req.path,
            "query": req.params,
            "worker_thread": threading.current_thread().name.startswith("hurtle-wsgi-"),
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_201
        resp.media = {"received": req.get_media()}


class SyncStream:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        def chunks() -> Iterator[bytes]:
            for i in range(4):
                yield b"chunk %d;" % i

        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = chunks()


class SyncUpload:
    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        total = 0
        while chunk := req.bounded_stream.read(65536):
            total += len(chunk)
        resp.media = {"size": total}


asgi_app = falcon.asgi.App()
asgi_app.add_route("/things", AsyncThings())
asgi_app.add_route("/stream", AsyncStream())
asgi_app.add_route("/upload", AsyncUpload())

wsgi_app = falcon.App()
wsgi_app.add_route("/things", SyncThings())
wsgi_app.add_route("/stream", SyncStream())
wsgi_app.add_route("/upload", SyncUpload())
