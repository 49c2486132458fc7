"""A FastAPI app with one route per feature tests/frameworks/test_fastapi.py drives."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import (
    BackgroundTasks,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Request,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

DONE: list[str] = []


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # Lifespan state: given to every request as request.state (ASGI lifespan state).
    yield {"greeting": "hello from the FastAPI lifespan", "started_in": "lifespan"}
    DONE.append("shutdown")


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


def pagination(limit: int = 10, offset: int = 0) -> dict[str, int]:
    return {"limit": limit, "offset": offset}


def current_user(x_token: Annotated[str | None, Header()] = None) -> str:
    if x_token != "secret":
        raise HTTPException(status_code=401, detail="bad token")
    return "alice"


@app.post("/items")
async def create_item(item: Item) -> dict[str, Any]:
    return {"item": item.model_dump(), "with_tax": round(item.price * 1.2, 2)}


@app.get("/items")
async def list_items(
    page: Annotated[dict[str, int], Depends(pagination)],
    user: Annotated[str, Depends(current_user)],
) -> dict[str, Any]:
    return {"user": user, "page": page}


@app.get("/sync")
def sync_view() -> dict[str, Any]:
    # FastAPI runs a plain `def` in its thread pool, off the event loop.
    return {"thread": threading.current_thread() is not threading.main_thread()}


def record(name: str) -> None:
    DONE.append(name)


@app.post("/tasks/{name}")
async def queue_task(name: str, background: BackgroundTasks) -> dict[str, str]:
    background.add_task(record, name)
    return {"queued": name}


@app.get("/tasks")
async def done_tasks() -> list[str]:
    return DONE


@app.get("/stream")
async def stream(count: int = 5) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        for i in range(count):
            yield b"line %d\n" % i
            await asyncio.sleep(0.01)

    return StreamingResponse(lines(), media_type="text/plain")


@app.post("/upload")
async def upload(file: UploadFile, note: Annotated[str, Header()] = "") -> dict[str, Any]:
    data = await file.read()
    return {
        "filename": file.filename,
        "content_type": file.content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "note": note,
    }


@app.get("/state")
async def state(request: Request) -> dict[str, str]:
    return {"greeting": request.state.greeting, "started_in": request.state.started_in}


@app.websocket("/ws")
async def websocket(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            data = await ws.receive_json()
            if data.get("close"):
                await ws.close(code=4000, reason="asked to close")
                return
            await ws.send_json({"echo": data, "greeting": ws.state.greeting})
    except WebSocketDisconnect:
        pass
