"""`hurtle --version`: hurtle's version and what it runs on, for bug reports.

Besides hurtle's own version: the Python, the versions of uvloop and httptools
(the event loop and the HTTP/1.1 parser, the two native dependencies whose
version changes hurtle's behaviour or speed), and whether the modules that
setup.py may compile with mypyc run compiled or as Python.
"""

from __future__ import annotations

import importlib
import os
import platform
from importlib import metadata

from hurtle import __version__
from hurtle._pure import COMPILABLE, compiled_modules

__all__ = ["version_report"]

REPORTED_PACKAGES = ("uvloop", "httptools")


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def compiled_state() -> str:
    """'compiled (8 of 8 modules)', or why the Python sources run.

    The modules are imported to see which file each comes from: only the
    process that asks for the report pays for it (a serving process imports
    them anyway, a supervisor never asks).
    """
    for name in COMPILABLE:
        importlib.import_module(name)
    compiled = compiled_modules()
    if compiled:
        return f"compiled ({len(compiled)} of {len(COMPILABLE)} modules)"
    if os.environ.get("HURTLE_PURE_PYTHON") == "1":
        return "pure Python (HURTLE_PURE_PYTHON=1)"
    return "pure Python (no compiled modules installed)"


def version_report() -> str:
    lines = [
        f"hurtle {__version__}: {compiled_state()}",
        f"Python {platform.python_version()} ({platform.python_implementation()})",
        *(f"{name} {package_version(name)}" for name in REPORTED_PACKAGES),
    ]
    return "\n".join(lines)
