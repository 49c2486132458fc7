"""The optional mypyc build (setup.py) and the pure-Python path (hurtle/_pure.py).

`make test` runs the whole suite twice: with the compiled modules, when the
build made them, and with HURTLE_PURE_PYTHON=1. These tests check that each
run is what it claims to be.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from hurtle._pure import COMPILABLE, compiled_modules

SRC = Path(__file__).resolve().parent.parent / "src"
PURE = os.environ.get("HURTLE_PURE_PYTHON") == "1"


def source_of(name: str) -> Path:
    return SRC / (name.replace(".", "/") + ".py")


def built_extensions(name: str) -> list[Path]:
    """Compiled extensions of `name` for this interpreter, next to its source."""
    source = source_of(name)
    found = [source.with_name(source.stem + suffix) for suffix in EXTENSION_SUFFIXES]
    return [path for path in found if path.exists()]


@pytest.fixture(autouse=True)
def imported() -> None:
    for name in COMPILABLE:
        importlib.import_module(name)


@pytest.mark.skipif(not PURE, reason="the compiled run")
def test_pure_python_run_uses_no_compiled_module() -> None:
    assert compiled_modules() == []
    assert all(str(sys.modules[name].__file__).endswith(".py") for name in COMPILABLE)


@pytest.mark.skipif(PURE, reason="the pure-Python run")
def test_compiled_run_uses_what_was_built() -> None:
    """Where the build made extensions for this Python, they are what runs."""
    expected = [name for name in COMPILABLE if built_extensions(name)]
    assert compiled_modules() == expected


@pytest.mark.skipif(not shutil.which("cc") and not shutil.which("gcc"), reason="no C compiler")
@pytest.mark.skipif(sys.implementation.name != "cpython", reason="mypyc needs CPython")
def test_the_build_compiles_where_there_is_a_compiler() -> None:
    """The install (`pip install -e .`, as `make test` does) built every module setup.py names."""
    missing = [name for name in COMPILABLE if not built_extensions(name)]
    assert missing == [], f"not compiled: {missing}; see the output of pip install -v -e ."


def test_compiled_modules_are_not_older_than_their_sources() -> None:
    """A source edited after the build would not run: install again (make test does)."""
    for name in COMPILABLE:
        source = source_of(name)
        for extension in built_extensions(name):
            assert extension.stat().st_mtime >= source.stat().st_mtime, (
                f"{extension.name} is older than {source.name}: run pip install -e . again"
            )


def test_pure_python_variable_switches_a_fresh_interpreter() -> None:
    code = "import hurtle._pure as p, hurtle.wire.h1, hurtle.wire.headers\n"
    code += "print(p.compiled_modules())"
    env = {**os.environ, "HURTLE_PURE_PYTHON": "1"}
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "[]"
