"""The layers import one way, and no module of hurtle's imports itself back.

ARCHITECTURE.md's picture, checked on the source (the ast of every module,
so an import inside a function or an `if TYPE_CHECKING:` block counts too):

    wire      bytes in, events out: imports nothing of hurtle's but wire
    asgi      the ASGI side, for every protocol: never net, server or supervise
    net       the event loop, sockets, TLS: never server, launch or supervise
    supervise the supervisor: never the serving stack (below, at run time)

tests/wire/test_sans_io.py checks that wire imports no I/O module at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import hurtle

SRC = Path(hurtle.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def imports_of(source: str, known: set[str], package: str = "hurtle") -> set[str]:
    """The hurtle modules that `source` imports, each resolved to a module in `known`.

    `from hurtle.asgi import http` names the module hurtle.asgi.http;
    `from hurtle.asgi.types import Scope` names hurtle.asgi.types.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # A relative import, resolved against the package.
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            if name in known:
                found.add(name)
                if isinstance(node, ast.ImportFrom):
                    break  # The submodule itself; its package is not the target.
    return found


def _package_of(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


GRAPH = {
    name: imports_of(path.read_text(encoding="utf-8"), set(MODULES), _package_of(name)) - {name}
    for name, path in MODULES.items()
}


def layer(name: str) -> str:
    """hurtle.net.connection -> "net"; hurtle.server -> "server"."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "hurtle"


# What each layer must never import (by layer name).
FORBIDDEN = {
    "wire": {layer(name) for name in MODULES} - {"wire"},
    "asgi": {"net", "server", "launch", "supervise", "cli"},
    "net": {"server", "launch", "supervise", "cli"},
    "supervise": {"net.connection", "server", "asgi", "wire"},
}


# The worker is a serving process that the supervisor starts with `python -m`:
# it is the one module of supervise/ that runs the serving stack.
SERVING_ENTRY_POINTS = {"hurtle.supervise.worker"}


def forbidden_imports(name: str) -> set[str]:
    banned = set() if name in SERVING_ENTRY_POINTS else FORBIDDEN.get(layer(name), set())
    return {
        target
        for target in GRAPH[name]
        if layer(target) in banned
        or any(target == f"hurtle.{b}" or target.startswith(f"hurtle.{b}.") for b in banned)
    }


def cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Each strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                yield from visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                yield sorted(component)

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


def test_the_graph_has_the_layers() -> None:
    """Guards the tests below against passing on an empty or unresolved graph."""
    assert {"wire", "asgi", "net", "supervise"} <= {layer(name) for name in MODULES}
    assert "hurtle.net.state" in GRAPH["hurtle.net.connection"]
    assert "hurtle.asgi.types" in GRAPH["hurtle.asgi.http"]


def test_no_module_imports_itself_back() -> None:
    assert list(cycles(GRAPH)) == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) in FORBIDDEN))
def test_layer_imports_only_downwards(name: str) -> None:
    assert forbidden_imports(name) == set(), f"{name} imports a layer above it"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert list(cycles(graph)) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from hurtle.asgi.types import Scope", {"hurtle.asgi.types"}),
        ("from hurtle.asgi import types", {"hurtle.asgi.types"}),
        ("from hurtle import Config", {"hurtle"}),
        ("if TYPE_CHECKING:\n    import hurtle.net.state\n", {"hurtle.net.state"}),
        ("def f():\n    from hurtle.server import Server\n", {"hurtle.server"}),
        ("from . import state", {"hurtle.net.state"}),
        ("import asyncio", set()),
    ],
)
def test_the_import_reader_resolves_each_form(source: str, expected: set[str]) -> None:
    assert imports_of(source, set(MODULES), "hurtle.net") == expected


# Modules that only a serving process needs: the protocols, the ASGI cycles,
# httptools, the websockets library, uvloop.
SERVING_STACK = (
    "httptools",
    "websockets",
    "uvloop",
    "hurtle.server",
    "hurtle.net.connection",
    "hurtle.asgi.http",
    "hurtle.wire.h1",
)


def test_a_supervisor_process_does_not_import_the_serving_stack() -> None:
    """`hurtle --workers N` starts a supervisor that never serves: it stays small."""
    code = (
        "import sys, hurtle, hurtle.cli, hurtle.launch, hurtle.supervise.supervisor; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SERVING_STACK!r} "
        f"or m in {SERVING_STACK!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def architecture_map() -> set[str]:
    """The module paths named in the code map of docs/architecture.md (its first block)."""
    text = (SRC.parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("```")[1]
    found: set[str] = set()
    folders: list[str] = []
    for line in block.splitlines()[1:]:
        stripped = line.strip()
        if not stripped:
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        entry = stripped.split()[0]
        folders = folders[: depth - 1]
        if entry.endswith("/"):
            folders.append(entry.rstrip("/"))
        elif entry.endswith(".py"):
            found.add("/".join([*folders, entry]))
    return found


def test_every_module_is_on_the_architecture_map() -> None:
    """docs/architecture.md's map names each module of src/hurtle, and no module that is gone."""
    on_disk = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if path.name != "__init__.py" or path.parent == SRC
    }
    on_disk -= {f"demo/{name}" for name in ("app.py", "page.py")}  # The map shows demo/ whole.
    mapped = architecture_map()
    assert sorted(on_disk - mapped) == [], "modules missing from docs/architecture.md"
    assert sorted(mapped - on_disk) == [], "docs/architecture.md names modules that do not exist"
