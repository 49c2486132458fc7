"""Development: DEBUG on, and asgi.py wraps the app in Django's ASGIStaticFilesHandler,
which serves each app's static files straight from where the finders find them."""

from __future__ import annotations

from testsite.settings import *  # noqa: F403

DEBUG = True
