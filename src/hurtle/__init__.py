"""hurtle: a fast, safe, production ASGI server."""

from __future__ import annotations

__version__ = "0.1.0"

from hurtle._pure import install_if_asked

install_if_asked()  # Before anything imports the modules setup.py may compile.

from hurtle.config import Config, ConfigError  # noqa: E402
from hurtle.server import Server, StartupError, run, serve  # noqa: E402

__all__ = ["Config", "ConfigError", "Server", "StartupError", "__version__", "run", "serve"]
