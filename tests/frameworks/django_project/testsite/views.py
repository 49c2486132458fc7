"""Views: async and sync, each using the ORM, streaming, an upload."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from testsite.models import Note


def _notes() -> list[dict[str, Any]]:
    return list(Note.objects.order_by("id").values("text", "source"))


async def async_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        # The ORM is synchronous: an async view reaches it through sync_to_async...
        await sync_to_async(Note.objects.create)(text=request.POST["text"], source="async")
    # ...or through Django's own async ORM methods, which do the same inside.
    count = await Note.objects.acount()
    notes = await sync_to_async(_notes)()
    return JsonResponse({"view": "async", "count": count, "notes": notes})


def sync_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        Note.objects.create(text=request.POST["text"], source="sync")
    return JsonResponse(
        {
            "view": "sync",
            "count": Note.objects.count(),
            "notes": _notes(),
            "thread": threading.current_thread().name,
        }
    )


def stream(request: HttpRequest) -> HttpResponse:
    def lines() -> Iterator[bytes]:
        for i in range(5):
            yield b"sync line %d\n" % i

    return StreamingHttpResponse(lines(), content_type="text/plain")


async def astream(request: HttpRequest) -> HttpResponse:
    async def lines() -> AsyncIterator[bytes]:
        for i in range(5):
            await asyncio.sleep(0.01)
            yield b"async line %d\n" % i

    return StreamingHttpResponse(lines(), content_type="text/plain")


def upload(request: HttpRequest) -> HttpResponse:
    uploaded = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in uploaded.chunks():
        digest.update(chunk)
    return JsonResponse(
        {
            "name": uploaded.name,
            "size": uploaded.size,
            "sha256": digest.hexdigest(),
            "on_disk": isinstance(uploaded, TemporaryUploadedFile),
            "title": request.POST.get("title"),
        }
    )


def info(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META.get("SCRIPT_NAME"),
            "host": request.get_host(),
            "secure": request.is_secure(),
            "remote_addr": request.META.get("REMOTE_ADDR"),
            "query": request.GET.dict(),
            "header": request.headers.get("X-Test"),
        }
    )
