"""The packages users install: `python -m build` makes an sdist and a wheel from a copy
of the repository; each is installed into a clean virtual environment, whose `hurtle`
then serves an app over a real socket.

The wheel is built from the sdist (what `python -m build` does), with the compiled
modules; the sdist is installed with HURTLE_COMPILE=0, so the same code is also
shown to install as pure Python without compiling it a second time. Building
and installing take a minute or two, so these tests run in the compiled run of
`make test` only: the packages do not depend on HURTLE_PURE_PYTHON.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from hurtle import __version__
from hurtle._pure import COMPILABLE
from support import REPO, ServerProcess

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("HURTLE_PURE_PYTHON") == "1",
        reason="the packages are built once, in the compiled run",
    ),
    pytest.mark.timeout(600),
]

BUILD_TIMEOUT = 480
INSTALL_TIMEOUT = 300
# What a copy of the repository leaves out: environments, builds, caches.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "*.so", "__pycache__", ".*_cache", "results"
)

APP = """\
async def app(scope, receive, send):
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"served from a clean venv"})
"""


class Packages:
    def __init__(self, sdist: Path, wheel: Path) -> None:
        self.sdist = sdist
        self.wheel = wheel


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Packages:
    source = tmp_path_factory.mktemp("source") / "hurtle"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    dist = source / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    (sdist,) = dist.glob("hurtle-*.tar.gz")
    (wheel,) = dist.glob("hurtle-*.whl")
    return Packages(sdist, wheel)


def clean_venv(directory: Path, package: Path, env: dict[str, str] | None = None) -> Path:
    """A new venv with `package` (and its dependencies) installed; its bin/ directory."""
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True, timeout=120)
    bin_dir = directory / "bin"
    install_env = {**os.environ, **(env or {})}
    install_env.pop("PYTHONPATH", None)
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(package)],
        check=True,
        env=install_env,
        timeout=INSTALL_TIMEOUT,
    )
    return bin_dir


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "main.py").write_text(APP)
    return directory


def venv_env() -> dict[str, str]:
    """Nothing of this checkout's environment leaks into the clean venv's hurtle."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HURTLE_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    return env


@contextmanager
def serve(bin_dir: Path, app_dir: Path) -> Iterator[ServerProcess]:
    """`hurtle main:app` from the venv, run where the app is, as a user runs it."""
    server = ServerProcess(
        ["main:app", "--port", "0"], cwd=app_dir, command=[str(bin_dir / "hurtle")]
    )
    try:
        server.wait_ready(30)
        yield server
    finally:
        assert server.stop() == 0, server.output


def version_report(bin_dir: Path, app_dir: Path) -> str:
    done = subprocess.run(
        [str(bin_dir / "hurtle"), "--version"],
        cwd=app_dir,
        env=venv_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_the_sdist_holds_the_build_inputs(packages: Packages) -> None:
    """What building from the sdist needs: setup.py, the list of compiled modules, the licence."""
    with tarfile.open(packages.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    root = f"hurtle-{__version__}"
    assert packages.sdist.name == f"{root}.tar.gz"
    assert {"pyproject.toml", "setup.py", "LICENSE", "README.md"} <= names
    assert "src/hurtle/_pure.py" in names
    assert {f"src/{name.replace('.', '/')}.py" for name in COMPILABLE} <= names


def test_the_wheel_metadata(packages: Packages) -> None:
    with zipfile.ZipFile(packages.wheel) as wheel:
        metadata_path = f"hurtle-{__version__}.dist-info/METADATA"
        metadata = email.message_from_bytes(wheel.read(metadata_path))
        names = set(wheel.namelist())
    assert metadata["Name"] == "hurtle"
    assert metadata["Version"] == __version__  # the one declaration, in hurtle/__init__.py
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata["License-File"] == "LICENSE"
    assert f"hurtle-{__version__}.dist-info/licenses/LICENSE" in names
    assert "hurtle/py.typed" in names
    assert "hurtle/demo/page.py" in names


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="mypyc needs CPython")
@pytest.mark.skipif(not shutil.which("cc") and not shutil.which("gcc"), reason="no C compiler")
def test_the_compiled_wheel_installs_and_serves(
    packages: Packages, tmp_path: Path, app_dir: Path
) -> None:
    with zipfile.ZipFile(packages.wheel) as wheel:
        extensions = [name for name in wheel.namelist() if name.endswith(".so")]
    assert len(extensions) >= len(COMPILABLE), extensions  # the modules and mypyc's runtime
    bin_dir = clean_venv(tmp_path / "venv", packages.wheel)
    report = version_report(bin_dir, app_dir)
    assert report.startswith(
        f"hurtle {__version__}: compiled ({len(COMPILABLE)} of {len(COMPILABLE)} modules)\n"
    )
    with serve(bin_dir, app_dir) as server:
        response = httpx.get(server.url + "/", timeout=10)
        assert response.status_code == 200
        assert response.text == "served from a clean venv"


def test_the_sdist_installs_as_pure_python_and_serves(
    packages: Packages, tmp_path: Path, app_dir: Path
) -> None:
    bin_dir = clean_venv(tmp_path / "venv", packages.sdist, env={"HURTLE_COMPILE": "0"})
    report = version_report(bin_dir, app_dir)
    assert report.startswith(f"hurtle {__version__}: pure Python (no compiled modules installed)")
    assert "uvloop " in report and "httptools " in report
    with serve(bin_dir, app_dir) as server:
        response = httpx.get(server.url + "/", timeout=10)
        assert response.status_code == 200
        assert response.text == "served from a clean venv"
