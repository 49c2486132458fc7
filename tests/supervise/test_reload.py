"""--reload with watchfiles: edits restart the workers, broken code waits for a fix."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hurtle.supervise.reload import path_filter
from supervision import Supervised, wait_until, write_versioned_app

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}


def version(server: Supervised) -> str:
    try:
        return httpx.get(server.url, timeout=5).text.split()[0]
    except httpx.HTTPError:
        return "(no answer)"


def test_reload_with_workers_picks_up_edits_and_survives_a_syntax_error(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    write_versioned_app(tmp_path, "one")
    server = supervised(
        "versioned:app",
        "--reload",
        "--workers",
        "2",
        "--reload-dir",
        str(tmp_path),
        cwd=tmp_path,
        env=NO_PYC,
    )
    first = server.wait_workers(2)
    assert version(server) == "one"

    write_versioned_app(tmp_path, "second")
    wait_until(lambda: version(server) == "second", 15, "the edit is served")
    assert server.wait_workers(2).isdisjoint(first)
    assert "changed: versioned.py" in server.output

    # A syntax error: the workers cannot start; the reloader prints why and waits.
    (tmp_path / "versioned.py").write_text("def broken(:\n", encoding="utf-8")
    server.wait_log("waiting for a file change", timeout=15)
    assert "SyntaxError" in server.output
    assert server.process.proc.poll() is None

    write_versioned_app(tmp_path, "fixed")
    wait_until(lambda: version(server) == "fixed", 15, "the fixed code is served")
    server.wait_workers(2)


def test_reload_ignores_files_that_do_not_match(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    write_versioned_app(tmp_path, "one")
    server = supervised("versioned:app", "--reload", cwd=tmp_path, env=NO_PYC)
    (worker,) = server.wait_workers(1)
    (tmp_path / "notes.txt").write_text("not code", encoding="utf-8")
    (tmp_path / ".hidden.py").write_text("x = 1", encoding="utf-8")
    time.sleep(1.0)  # watchfiles reports within ~0.1 s; nothing may come.
    assert "changed:" not in server.output
    assert server.wait_workers(1) == {worker}


def test_path_filter_globs(tmp_path: Path) -> None:
    wanted = path_filter([tmp_path], ["*.py", "templates/*.html"], [".*", "*~", "build"])
    assert wanted(str(tmp_path / "app.py"))
    assert wanted(str(tmp_path / "pkg" / "views.py"))
    assert wanted(str(tmp_path / "templates" / "index.html"))
    assert not wanted(str(tmp_path / "static" / "index.html"))
    assert not wanted(str(tmp_path / "notes.txt"))
    assert not wanted(str(tmp_path / ".venv" / "lib" / "x.py"))  # a directory that matches
    assert not wanted(str(tmp_path / "build" / "gen.py"))
    assert not wanted(str(tmp_path / "app.py~"))


def test_reload_answers_503_with_the_import_error_until_fixed(
    supervised: Callable[..., Supervised], tmp_path: Path
) -> None:
    write_versioned_app(tmp_path, "one")
    server = supervised(
        "versioned:app", "--reload", "--reload-dir", str(tmp_path), cwd=tmp_path, env=NO_PYC
    )
    server.wait_workers(1)
    assert version(server) == "one"

    (tmp_path / "versioned.py").write_text(
        "def settings():\n    return 1 / 0\n\nsettings()\n", encoding="utf-8"
    )
    server.wait_log("answering requests with 503", timeout=15)
    response = httpx.get(server.url, timeout=5)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "ZeroDivisionError: division by zero" in response.text
    assert 'versioned.py", line 2, in settings' in response.text
    assert "hurtle: error: cannot import 'versioned:app'" in response.text
    head = httpx.head(server.url, timeout=5)
    assert head.status_code == 503 and head.content == b""

    write_versioned_app(tmp_path, "fixed")
    wait_until(lambda: version(server) == "fixed", 15, "the fixed code is served")
