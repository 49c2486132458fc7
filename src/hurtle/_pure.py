"""HURTLE_PURE_PYTHON=1: run the Python sources of the modules setup.py may compile.

Where the compiled modules are installed, Python's import system prefers them
over the .py files beside them. This finder, placed first when the variable is
set, serves those modules from their sources instead, so the pure-Python path
can be tested, profiled and debugged in any installation.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__all__ = ["COMPILABLE", "compiled_modules", "install_if_asked"]

# The one list of the modules that setup.py compiles with mypyc (setup.py and
# the Makefile read it from here).
COMPILABLE = (
    "hurtle.wire.h1",
    "hurtle.wire.headers",
    "hurtle.wire.hpack",
    "hurtle.wire.h2_events",
    "hurtle.wire.h2_frames",
    "hurtle.wire.h2_engine",
    "hurtle.net.connection",
    "hurtle.net.h2",
    "hurtle.net.write_backpressure",
    "hurtle.asgi.http_core",
    "hurtle.asgi.wake",
    "hurtle.net.state",
    "hurtle.asgi.scope",
    "hurtle.net.metrics",
)


class _SourceFirst:
    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name not in COMPILABLE or not path:
            return None
        filename = name.rpartition(".")[2] + ".py"
        for entry in path:
            source = os.path.join(entry, filename)
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(name, source)
        return None


def install_if_asked() -> None:
    if os.environ.get("HURTLE_PURE_PYTHON") == "1" and _SourceFirst not in sys.meta_path:
        sys.meta_path.insert(0, _SourceFirst)


def compiled_modules() -> list[str]:
    """The modules of COMPILABLE that were imported from a compiled extension."""
    found = []
    for name in COMPILABLE:
        module = sys.modules.get(name)
        if module is not None and not (module.__file__ or "").endswith(".py"):
            found.append(name)
    return found
