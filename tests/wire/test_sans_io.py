"""The wire package is sans-I/O: it never imports the event loop, sockets, TLS or clocks.

Checked on the source (the ast of every module), so a new import fails here
even inside a function or an `if TYPE_CHECKING:` block.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hurtle.wire

FORBIDDEN = frozenset({"asyncio", "socket", "ssl", "time", "selectors", "threading"})
# ARCHITECTURE.md: `net` may import `asgi` and `wire`; `wire` imports neither.
FORBIDDEN_LAYERS = frozenset({"hurtle.net", "hurtle.asgi", "hurtle.server"})

WIRE_DIR = Path(hurtle.wire.__file__).parent
WIRE_MODULES = sorted(WIRE_DIR.rglob("*.py"))


def imported_modules(source: str, filename: str = "<test>") -> set[str]:
    """Every absolute module name an `import` or `from ... import` statement names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            # `from os import path` style: a submodule may be what is imported.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def forbidden_in(names: set[str]) -> set[str]:
    return {name for name in names if name.split(".")[0] in FORBIDDEN}


def test_the_wire_package_has_modules() -> None:
    """Guards the test below against passing vacuously on an empty list."""
    found = {path.name for path in WIRE_MODULES}
    assert {"__init__.py", "h1.py", "headers.py"} <= found


@pytest.mark.parametrize("path", WIRE_MODULES, ids=lambda p: p.relative_to(WIRE_DIR).as_posix())
def test_wire_module_imports_no_io(path: Path) -> None:
    names = imported_modules(path.read_text(encoding="utf-8"), str(path))
    assert forbidden_in(names) == set(), f"{path.name} imports I/O modules"


@pytest.mark.parametrize("path", WIRE_MODULES, ids=lambda p: p.relative_to(WIRE_DIR).as_posix())
def test_wire_module_imports_no_upper_layer(path: Path) -> None:
    names = imported_modules(path.read_text(encoding="utf-8"), str(path))
    upper = {n for n in names if any(n == m or n.startswith(m + ".") for m in FORBIDDEN_LAYERS)}
    assert upper == set(), f"{path.name} imports from a layer above wire"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import asyncio", {"asyncio"}),
        ("import os, socket", {"socket"}),
        ("import ssl as _ssl", {"ssl"}),
        ("from time import monotonic", {"time", "time.monotonic"}),
        ("import asyncio.events", {"asyncio.events"}),
        ("from asyncio import events", {"asyncio", "asyncio.events"}),
        ("def f():\n    import selectors\n", {"selectors"}),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import threading\n",
            {"threading"},
        ),
        ("import re, http, collections.abc", set()),
        ("from . import headers", set()),
        ("import timeit", set()),
    ],
)
def test_the_checker_catches_forbidden_imports(source: str, expected: set[str]) -> None:
    """The check itself: it must see every import form, and not false-alarm on near names."""
    assert forbidden_in(imported_modules(source)) == expected
