"""A one-file Django site whose import migrates its database and queries it.

As a project that runs `migrate` at start-up does: importing this module runs
Django's ORM, which Django refuses in a thread with a running event loop
(SynchronousOnlyOperation). hurtle must import it before its loop starts.
Each process (a worker, a process restarted by --reload) migrates a SQLite
file of its own in $DJANGO_SITE_DB_DIR, named after its pid, so that workers
importing it side by side do not race on one database.

The page answers with the row written at import and the pid that serves it.
Django settings can be configured once per process: only a hurtle subprocess
imports this module.
"""

from __future__ import annotations

import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="only-for-tests",
    ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=["django.contrib.contenttypes"],
    MIDDLEWARE=[],
    ROOT_URLCONF=__name__,
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(os.environ["DJANGO_SITE_DB_DIR"], f"db-{os.getpid()}.sqlite3"),
        }
    },
    USE_TZ=True,
)
django.setup()

from django.contrib.contenttypes.models import ContentType  # noqa: E402 - needs setup()
from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

call_command("migrate", interactive=False, verbosity=0)
ContentType.objects.get_or_create(app_label="imported", model=f"written at import by {os.getpid()}")


def index(request: HttpRequest) -> HttpResponse:
    row = ContentType.objects.get(app_label="imported")
    return HttpResponse(f"{row.model}, served by {os.getpid()}", content_type="text/plain")


urlpatterns = [path("", index)]
application = get_asgi_application()
