"""Finding the app: 'module:attribute' strings, --app-dir and --factory."""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import traceback
from typing import Any

__all__ = ["AppImportError", "import_from_string", "load_app"]


class AppImportError(Exception):
    """The app could not be loaded; the message is one line for the user.

    `where`: for an exception the app's code raised, the place in the user's
    files it came from, as a traceback shows it (two lines), else None.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    dirs.add(os.path.dirname(os.path.abspath(__file__)))  # hurtle's own package
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs)


def where_raised(exc: BaseException) -> str | None:
    """The last frame of `exc`'s traceback in the user's own files (else the last frame).

    The user's files are those outside the standard library, installed
    packages and hurtle: a failure inside a library is shown at the line of
    the user's code that called it. A SyntaxError names its own place.
    """
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        text = (exc.text or "").strip()
        return f'  File "{exc.filename}", line {exc.lineno}' + (f"\n    {text}" if text else "")
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<")
    ]
    if not frames:
        return None
    libraries = _library_dirs()
    own = [f for f in frames if not os.path.realpath(f.filename).startswith(libraries)]
    frame = (own or frames)[-1]
    return "".join(traceback.format_list([frame])).rstrip("\n")


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
            f"cannot import {import_string!r}: {type(exc).__name__}: {exc}", where_raised(exc)
        ) from exc
    except Exception as exc:
        raise AppImportError(
            f"cannot import {import_string!r}: {type(exc).__name__}: {exc}", where_raised(exc)
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
            raise AppImportError(
                f"the app factory raised {type(exc).__name__}: {exc}", where_raised(exc)
            ) from exc
    if not callable(app):
        raise AppImportError(f"the app is not callable: {app!r}")
    return app
