"""A minimal Django project for tests/frameworks/test_django.py: asgi.py (with Channels) and
wsgi.py, one model on SQLite (the file named by $TESTSITE_DB)."""
