"""Channels WebSocket consumers: an async one using the ORM, and a sync one."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer

from testsite.models import Note


class NotesConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            return
        await database_sync_to_async(Note.objects.create)(text=text_data, source="websocket")
        count = await database_sync_to_async(Note.objects.count)()
        await self.send(text_data=json.dumps({"saved": text_data, "count": count}))


class UpperConsumer(WebsocketConsumer):
    def connect(self) -> None:
        self.accept()

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "bye":
            self.close(code=4001)
        elif text_data is not None:
            self.send(text_data=text_data.upper())
