"""hurtle: a fast, safe, production ASGI server."""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from hurtle._pure import install_if_asked

install_if_asked()  # Before anything imports the modules setup.py may compile.

from hurtle.config import Config, ConfigError  # noqa: E402
from hurtle.exits import StartupError  # noqa: E402

if TYPE_CHECKING:
    from hurtle.launch import run
    from hurtle.server import Server, serve

__all__ = ["Config", "ConfigError", "Server", "StartupError", "__version__", "run", "serve"]

# Imported when first used (PEP 562): `import hurtle` in a supervisor process,
# which never serves, must not load the serving stack (server.py, httptools).
_LAZY = {"Server": "hurtle.server", "serve": "hurtle.server", "run": "hurtle.launch"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hurtle' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
