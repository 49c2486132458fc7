"""ASGI entry point: Django for HTTP, Channels for WebSockets; in development (DEBUG),
Django's own handler serves the static files in front of both."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testsite.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

# Django must be set up before the consumers import models.
django_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from testsite.consumers import NotesConsumer, UpperConsumer  # noqa: E402

application: Any = ProtocolTypeRouter(
    {
        "http": django_app,
        "websocket": URLRouter(
            [
                path("ws/notes/", NotesConsumer.as_asgi()),
                path("ws/upper/", UpperConsumer.as_asgi()),
            ]
        ),
    }
)

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    # /static/... from the apps' static/ folders, as `runserver` does; for development only.
    application = ASGIStaticFilesHandler(application)
