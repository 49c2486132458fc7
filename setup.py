"""hurtle's optional compiled modules; everything else about the package is in pyproject.toml.

mypyc compiles the code every request runs through that does not await, to C
extensions: wire/h1.py and wire/headers.py (the parser callbacks and the
response framing), net/connection.py and net/write_backpressure.py (the HTTP/1.1
connection: dispatch, writes, timers), net/state.py (what the connections of
a server share), asgi/http_core.py with asgi/wake.py (the request cycle
but its coroutines); for HTTP/2, wire/h2_engine.py with wire/h2_frames.py and
wire/h2_events.py (hurtle's own engine and its events), wire/hpack.py (its
header compression) and net/h2.py (the HTTP/2 connection and its streams). docs/performance.md has the figures. They are optional:
without a C compiler, with HURTLE_COMPILE=0, or if the build fails for any
reason, hurtle installs as pure Python, which passes the same tests. At run
time, HURTLE_PURE_PYTHON=1 uses the Python sources even where the compiled
modules are installed (hurtle/_pure.py).
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext


def compilable() -> list[str]:
    """The source files of the modules listed in hurtle/_pure.py's COMPILABLE, the one list.

    Read from its syntax tree: the build environment cannot import hurtle.
    """
    source = Path(__file__).parent / "src" / "hurtle" / "_pure.py"
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "COMPILABLE" for target in node.targets
        ):
            names = ast.literal_eval(node.value)
            return [f"src/{name.replace('.', '/')}.py" for name in names]
    raise RuntimeError("hurtle/_pure.py has no COMPILABLE")


COMPILED = compilable()


class OptionalBuildExt(build_ext):
    """A failed compile leaves hurtle pure Python: never a failed install, never half a build."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # Any failure means: no compiled modules.
            for extension in self.extensions:
                built = Path(self.get_ext_fullpath(extension.name))
                built.unlink(missing_ok=True)
            print(f"hurtle: compiled modules not built ({exc}); pure Python", file=sys.stderr)


def extensions() -> list[Any]:
    if os.environ.get("HURTLE_COMPILE", "1") == "0" or sys.implementation.name != "cpython":
        return []
    # Compiling takes 20 s to a minute: say so before the silence, and how to skip it.
    print(
        f"hurtle: compiling {len(COMPILED)} modules with mypyc (20 s to a minute); "
        "set HURTLE_COMPILE=0 to install pure Python without compiling",
        file=sys.stderr,
        flush=True,
    )
    try:
        from mypyc.build import mypycify

        # The build environment has none of hurtle's dependencies (httptools
        # ships no types anyway), and only these modules are compiled: what
        # mypy would say of the modules they import is not this build's concern.
        options = ["--ignore-missing-imports", "--follow-imports=silent"]
        return list(mypycify([*options, *COMPILED], opt_level="3"))
    except (Exception, SystemExit) as exc:  # mypyc missing or refusing: pure Python.
        print(f"hurtle: compiled modules not built ({exc}); pure Python", file=sys.stderr)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
