"""The command line, generated from Config's fields: no option is spelled out here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from hurtle.config import ConfigError, Option, load_config, options
from hurtle.exits import EXIT_USAGE
from hurtle.launch import load_env_file, run_config

__all__ = ["build_parser", "main"]

_GROUP_TITLES = {
    "application": "application",
    "socket": "sockets",
    "tls": "TLS",
    "http": "HTTP",
    "http2": "HTTP/2",
    "proxy": "proxies",
    "websocket": "WebSocket",
    "timeouts": "timeouts",
    "processes": "processes",
    "logging": "logging",
    "debugging": "debugging (for app authors)",
    "metrics": "metrics",
    "meta": "configuration",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line that names the problem, as every other usage error does.
        self.exit(EXIT_USAGE, f"hurtle: error: {message} (see 'hurtle --help')\n")


class _VersionAction(argparse.Action):
    """Prints hurtle.about's report; computed only when asked (it imports the serving modules)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from hurtle.about import version_report

        print(version_report())  # to stdout, as argparse's own version action
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hurtle",
        # The options are listed below by topic; a synopsis of all of them
        # would be forty lines before the first word of help.
        usage="%(prog)s [options] [APP]",
        # `--work 2` must not silently mean --workers 2: options may be
        # added later that share a prefix, and configs must stay stable.
        allow_abbrev=False,
        description="Serve an ASGI app. Every option can also be set as HURTLE_<NAME> in the "
        "environment or in hurtle.toml / [tool.hurtle] of pyproject.toml.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="show hurtle's version, the Python's, uvloop's and httptools', whether the "
        "compiled modules are in use, and exit",
    )
    groups = {key: parser.add_argument_group(title) for key, title in _GROUP_TITLES.items()}
    for opt in options():
        if not opt.cli:
            continue
        if opt.name == "app":
            parser.add_argument("app", nargs="?", metavar="APP", help=opt.help)
            continue
        groups[opt.group].add_argument(opt.flag, *opt.aliases, **_argument_spec(opt))
    return parser


def _argument_spec(opt: Option) -> dict[str, Any]:
    env = opt.env_var + (f", else {opt.fallback_env}" if opt.fallback_env else "")
    help_text = opt.help + f" [env {env}; default: {_show_default(opt)}]"
    help_text = help_text.replace("%", "%%")  # argparse formats help with %(name)s.
    if opt.is_bool:
        return {"action": argparse.BooleanOptionalAction, "dest": opt.name, "help": help_text}
    spec: dict[str, Any] = {"dest": opt.name, "help": help_text}
    if opt.is_list:
        spec["action"] = "append"
    if opt.choices:
        spec["metavar"] = "{" + ",".join(opt.choices) + "}"
    elif opt.metavar:
        spec["metavar"] = opt.metavar
    elif opt.base_type is int:
        spec["metavar"] = "N"
    elif opt.base_type is float:
        spec["metavar"] = "SECONDS"
    else:
        spec["metavar"] = "VALUE"
    return spec


def _show_default(opt: Option) -> str:
    if opt.default is None:
        return "auto" if opt.is_bool else "none"
    if opt.default == "":
        return "''"
    if isinstance(opt.default, bool):
        return "on" if opt.default else "off"
    if isinstance(opt.default, list):
        return "none" if not opt.default else ", ".join(opt.default)
    return str(opt.default)


def parse_flags(argv: Sequence[str] | None) -> dict[str, Any]:
    """The options given on the command line, converted to their types."""
    namespace = build_parser().parse_args(argv)
    known = {opt.name: opt for opt in options()}
    flags: dict[str, Any] = {}
    for name, raw in vars(namespace).items():
        opt = known[name]
        if isinstance(raw, str) and name != "app":
            flags[name] = opt.parse(raw, opt.flag)
        else:
            flags[name] = raw
        opt.check(flags[name], opt.flag)
    return flags


def main(argv: Sequence[str] | None = None) -> NoReturn:
    try:
        config = load_config(parse_flags(argv), load_env_file=load_env_file)
    except ConfigError as exc:
        print(f"hurtle: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.exit(run_config(config))
