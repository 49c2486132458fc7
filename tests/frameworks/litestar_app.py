"""A Litestar app: typed handlers, JSON, a streamed response, lifespan state, a WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from litestar import Litestar, Request, get, post, websocket_listener
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import Stream

BOOKS: dict[int, str] = {1: "Dune"}


@dataclass
class Book:
    title: str
    year: int


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    app.state.greeting = "hello from the Litestar lifespan"
    yield


@get("/")
async def index() -> str:
    return "Litestar says hello"


@get("/books/{book_id:int}")
async def book(book_id: int) -> dict[str, object]:
    if book_id not in BOOKS:
        raise NotFoundException(f"no book {book_id}")
    return {"id": book_id, "title": BOOKS[book_id]}


@post("/books")
async def add_book(data: Book) -> Book:
    BOOKS[len(BOOKS) + 1] = data.title
    return Book(title=data.title.upper(), year=data.year)


@get("/greeting")
async def greeting(state: State, request: Request[object, object, State]) -> dict[str, str]:
    return {"greeting": state.greeting, "client": request.client.host if request.client else ""}


@get("/sync", sync_to_thread=True)
def sync_handler(n: int = 3) -> list[int]:
    return list(range(n))


@get("/stream")
async def stream() -> Stream:
    async def numbers() -> AsyncIterator[str]:
        for i in range(5):
            yield f"{i}\n"

    return Stream(numbers(), media_type="text/plain")


@websocket_listener("/ws")
async def shout(data: str) -> str:
    return data.upper()


app = Litestar(
    route_handlers=[index, book, add_book, greeting, sync_handler, stream, shout],
    lifespan=[lifespan],
)
