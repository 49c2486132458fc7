"""Start hurtle from a config: one serving process, or a supervisor and its workers.

What the `hurtle` command and `hurtle.run()` call. It imports the serving
stack (server.py, the protocols, httptools) only when this process serves:
a supervisor process binds sockets and watches workers, and never needs it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from hurtle.config import Config, ConfigError
from hurtle.exits import EXIT_ERROR, EXIT_OK, EXIT_USAGE, StartupError, report_startup_error
from hurtle.logs import LogConfigError, error_log
from hurtle.loops import loop_factory
from hurtle.supervise import PidFileError, needs_supervisor, pid_file, supervise

__all__ = ["load_env_file", "run", "run_config"]


def run_config(config: Config, app: Any = None) -> int:
    """Run a server to completion in a new event loop; return the process exit code."""
    try:
        config.configure_logging(show_pid=needs_supervisor(config))
    except LogConfigError as exc:
        print(f"hurtle: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if config.env_file:
            load_env_file(config.env_file)
        factory = loop_factory(config.loop)
    except ConfigError as exc:
        print(f"hurtle: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if app is None and config.app is None:
        error_log.info(
            "no app given: serving hurtle's built-in demo; pass MODULE:APP to serve yours "
            "(e.g. 'hurtle main:app')"
        )
    if needs_supervisor(config):
        return supervise(config, app)
    from hurtle.server import Server

    server = Server(app, config)
    try:
        with pid_file(config.pid):
            server.load()  # Before the loop starts (server.py's docstring says why).
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(server.serve())
    except PidFileError as exc:
        print(f"hurtle: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except StartupError as exc:
        debug = config.log_level in ("debug", "trace")
        if exc.__cause__ is not None and debug:
            error_log.debug("details:", exc_info=exc.__cause__)
        report_startup_error(exc, traceback_shown=debug)
        return exc.exit_code
    except KeyboardInterrupt:  # pragma: no cover - a signal before handlers were installed
        return EXIT_OK
    return EXIT_OK


def run(app: Any = None, **options: Any) -> None:
    """Run `app` (an ASGI app or a 'module:attribute' string) until stopped.

    The app is loaded before the event loop starts (in each worker process
    when there are workers). Options are Config's fields. Exits the process
    with a non-zero code if serving could not start.
    """
    code = run_config(Config(**options), app)
    if code:
        raise SystemExit(code)


def load_env_file(path: str) -> None:
    """Put the variables of a dotenv file into os.environ (existing ones win)."""
    from dotenv import load_dotenv

    if not os.path.isfile(path):
        raise ConfigError("--env-file", f"file {path!r} does not exist")
    load_dotenv(path, override=False)
