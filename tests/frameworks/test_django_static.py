"""Django's static files under hurtle, by the two recipes of docs/frameworks.md: the
admin's stylesheet, linked from its login page, through a real hurtle process.

- production (testsite/settings_production.py): `collectstatic`, then WhiteNoise's
  middleware serves STATIC_ROOT, through asgi.py and through wsgi.py;
- development (testsite/settings_dev.py): DEBUG on, and asgi.py wraps the app in
  Django's ASGIStaticFilesHandler;
- neither (testsite/settings.py): a 404, as a new user sees it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import django
import httpx
import pytest

from frameworks.conftest import FRAMEWORKS_DIR
from support import ServerProcess, wait_for

PROJECT = FRAMEWORKS_DIR / "django_project"
STYLESHEET = "/static/admin/css/base.css"
SYNC_ITERATOR_WARNING = "StreamingHttpResponse must consume synchronous iterators"
SHIPPED = Path(django.__file__).parent / "contrib" / "admin" / "static" / "admin" / "css"


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m django collectstatic` into a fresh STATIC_ROOT, as a deployment runs it."""
    root = tmp_path_factory.mktemp("static")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "testsite.settings_production",
        "TESTSITE_STATIC_ROOT": str(root),
        "PYTHONPATH": str(PROJECT),
    }
    subprocess.run(
        [sys.executable, "-m", "django", "collectstatic", "--noinput", "-v", "0"],
        env=env,
        check=True,
        timeout=60,
    )
    assert (root / "admin" / "css" / "base.css").is_file()
    return root


def serve(
    start_server: Callable[..., ServerProcess], entry: str, settings: str, **env: str
) -> ServerProcess:
    return start_server(
        f"testsite.{entry}:application",
        "--app-dir",
        str(PROJECT),
        env={"DJANGO_SETTINGS_MODULE": f"testsite.{settings}", **env},
    )


def admin_stylesheet(server: ServerProcess) -> httpx.Response:
    """The admin's login page, then the stylesheet it links to, as a browser fetches them."""
    with httpx.Client(base_url=server.url, timeout=20) as client:
        page = client.get("/admin/login/")
        assert page.status_code == 200
        assert f'href="{STYLESHEET}"' in page.text
        return client.get(STYLESHEET)


def assert_is_the_stylesheet(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.content == (SHIPPED / "base.css").read_bytes()


@pytest.mark.parametrize("entry", ["asgi", "wsgi"])
def test_whitenoise_serves_collected_static_files(
    start_server: Callable[..., ServerProcess], static_root: Path, entry: str
) -> None:
    server = serve(
        start_server, entry, "settings_production", TESTSITE_STATIC_ROOT=str(static_root)
    )
    response = admin_stylesheet(server)
    assert_is_the_stylesheet(response)
    # Django reads WhiteNoise's (synchronous) file whole under ASGI, and says so
    # (docs/frameworks.md); under WSGI it streams it through wsgi.file_wrapper.
    if entry == "asgi":
        wait_for(lambda: SYNC_ITERATOR_WARNING in server.output)
    else:
        assert SYNC_ITERATOR_WARNING not in server.output, server.output
    # WhiteNoise, not Django: its caching headers are on the response.
    assert re.fullmatch(r"max-age=\d+, public", response.headers["cache-control"])


def test_the_asgi_static_files_handler_serves_them_in_development(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = serve(start_server, "asgi", "settings_dev")
    assert_is_the_stylesheet(admin_stylesheet(server))
    # Django's handler streams the file asynchronously (WhiteNoise's middleware does not).
    assert SYNC_ITERATOR_WARNING not in server.output, server.output
    # Only what is under STATIC_URL: the rest still reaches the project.
    info = httpx.get(server.url + "/info/", timeout=20)
    assert info.status_code == 200
    assert info.json()["path"] == "/info/"
    assert httpx.get(server.url + "/static/admin/css/nothing.css", timeout=20).status_code == 404


def test_without_a_recipe_static_files_are_a_404(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = serve(start_server, "asgi", "settings")
    assert admin_stylesheet(server).status_code == 404
