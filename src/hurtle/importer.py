"""Finding the app: 'module:attribute' strings, --app-dir and --factory."""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["AppImportError", "import_from_string", "load_app"]


class AppImportError(Exception):
    """The app could not be loaded; the message is one line for the user."""


def import_from_string(import_string: str) -> Any:
    module_name, sep, attribute_path = import_string.partition(":")
    if not sep or not module_name or not attribute_path:
        raise AppImportError(
            f"cannot import {import_string!r}: expected 'module:attribute', e.g. 'main:app'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if (
            exc.name is not None
            and module_name.startswith(exc.name)
            and (exc.name == module_name or module_name.startswith(exc.name + "."))
        ):
            raise AppImportError(
                f"cannot import {import_string!r}: no module named {exc.name!r}"
            ) from exc
        raise AppImportError(
            f"cannot import {import_string!r}: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:
        raise AppImportError(
            f"cannot import {import_string!r}: {type(exc).__name__}: {exc}"
        ) from exc
    obj: Any = module
    for part in attribute_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppImportError(
                f"cannot import {import_string!r}: module {module_name!r} has no attribute "
                f"{attribute_path!r}"
            ) from None
    return obj


def load_app(app: Any, *, factory: bool, app_dir: str | None) -> Any:
    """The ASGI app from an object or import string, calling a factory if asked."""
    if isinstance(app, str):
        if app_dir is not None and app_dir not in sys.path:
            sys.path.insert(0, app_dir)
        app = import_from_string(app)
    if factory:
        try:
            app = app()
        except Exception as exc:
            raise AppImportError(f"the app factory raised {type(exc).__name__}: {exc}") from exc
    if not callable(app):
        raise AppImportError(f"the app is not callable: {app!r}")
    return app
