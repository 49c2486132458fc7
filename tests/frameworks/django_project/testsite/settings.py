"""Settings of the test project: SQLite at $TESTSITE_DB, no CSRF, no sessions, no admin."""

from __future__ import annotations

import os

SECRET_KEY = "only-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["testsite"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "testsite.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TESTSITE_DB", ":memory:"),
        "OPTIONS": {"timeout": 10},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# Uploads above 1 MiB go to a temporary file, as large uploads do in production.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
