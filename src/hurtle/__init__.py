"""hurtle: a fast, safe, production ASGI server."""

from __future__ import annotations

__version__ = "0.1.0"

from hurtle.config import Config, ConfigError
from hurtle.server import Server, StartupError, run, serve

__all__ = ["Config", "ConfigError", "Server", "StartupError", "__version__", "run", "serve"]
