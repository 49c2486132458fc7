"""Which interface an app speaks (ASGI 3, ASGI 2, WSGI), and the adapter that makes it ASGI 3.

The server speaks ASGI 3 only. An app of another interface is wrapped once,
when it is loaded, so a plain ASGI 3 app costs nothing per request.

Detection (`--interface auto`) looks at how the app is called, which is what
tells the three apart:

- an async callable (an ``async def`` function, or an object whose
  ``__call__`` is ``async def``) is ASGI 3: ``await app(scope, receive, send)``;
- otherwise the number of positional arguments it takes decides: three is
  ASGI 3 (a plain function returning an awaitable), two is WSGI
  ``app(environ, start_response)``, one is ASGI 2 ``app(scope)`` returning a
  callable of ``(receive, send)`` (a class whose instances are created per
  scope counts its ``__init__`` arguments);
- when the signature cannot be read or fits several (``*args``), ASGI 3 is
  assumed, as every ASGI server does, with a log line suggesting the flag.

A forced `--interface` is checked against the same facts: an app that
clearly is something else is a startup error that says what it looks like.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from hurtle.asgi.types import ASGIApp, Receive, Scope, Send
from hurtle.logs import error_log

__all__ = ["InterfaceError", "adapt", "detect"]


Interface = Literal["asgi3", "asgi2", "wsgi"]

# Positional arguments of each interface's call, in the order auto prefers.
_ARITY: tuple[tuple[Interface, int], ...] = (("asgi3", 3), ("wsgi", 2), ("asgi2", 1))

_DESCRIPTIONS: dict[Interface, str] = {
    "asgi3": "an ASGI 3 app, called as `await app(scope, receive, send)`",
    "asgi2": "an ASGI 2 app, called as `app(scope)` and then `await instance(receive, send)`",
    "wsgi": "a WSGI app, called as `app(environ, start_response)`",
}


class InterfaceError(Exception):
    """The app is not of the interface `--interface` names; the message says what it is."""


def detect(app: Any) -> tuple[Interface, ...]:
    """The interfaces `app` can be called with, most likely first; () if it cannot be told."""
    if _is_async(app):
        return ("asgi3",)
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):  # builtins, C extensions without a signature
        return ()
    positional = 0
    required = 0
    for parameter in signature.parameters.values():
        kind = parameter.kind
        if kind is parameter.VAR_POSITIONAL:
            return ()
        if kind is parameter.KEYWORD_ONLY and parameter.default is parameter.empty:
            return ()  # Nobody can call it positionally only.
        if kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
            if parameter.default is parameter.empty:
                required += 1
    return tuple(name for name, count in _ARITY if required <= count <= positional)


def _is_async(app: Any) -> bool:
    if inspect.iscoroutinefunction(app):
        return True
    if inspect.isclass(app) or inspect.isroutine(app):
        return False
    return inspect.iscoroutinefunction(type(app).__call__)


def resolve(app: Any, interface: str) -> Interface:
    """The interface to serve `app` with, for the value of `--interface`."""
    fits = detect(app)
    if interface == "auto":
        if len(fits) == 1:
            return fits[0]
        chosen: Interface = fits[0] if fits else "asgi3"
        error_log.info(
            "cannot tell the interface of %s from its signature: serving it as %s "
            "(set --interface to choose)",
            _name(app),
            _DESCRIPTIONS[chosen],
        )
        return chosen
    if interface not in ("asgi3", "asgi2", "wsgi"):
        raise InterfaceError(f"--interface: unknown interface {interface!r}")
    forced: Interface = interface  # type: ignore[assignment]
    if fits and forced not in fits:
        raise InterfaceError(
            f"--interface {forced} was given, but {_name(app)} looks like "
            f"{_DESCRIPTIONS[fits[0]]}; use --interface {fits[0]} or --interface auto"
        )
    return forced


def adapt(app: Any, interface: str, *, wsgi_threads: int, multiprocess: bool) -> ASGIApp:
    """`app` as an ASGI 3 app: unchanged if it is one, else wrapped once."""
    chosen = resolve(app, interface)
    if chosen == "asgi3":
        result: ASGIApp = app
        return result
    if chosen == "asgi2":
        error_log.debug("serving %s as an ASGI 2 app", _name(app))
        return ASGI2Adapter(app)
    from hurtle.asgi.wsgi import WSGIAdapter

    error_log.info("serving %s as a WSGI app on up to %d threads", _name(app), wsgi_threads)
    return WSGIAdapter(app, threads=wsgi_threads, multiprocess=multiprocess)


class ASGI2Adapter:
    """An ASGI 2 app (`app(scope)` returns an instance; `await instance(receive, send)`)."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)


def _name(app: Any) -> str:
    """`module.function` or `module.Class` for those, else `the Flask object` and the like."""
    if inspect.isclass(app) or inspect.isroutine(app):
        return f"{getattr(app, '__module__', '?')}.{getattr(app, '__qualname__', app)}"
    return f"the {type(app).__qualname__} object"
