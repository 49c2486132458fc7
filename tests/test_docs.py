"""docs/configuration.md is generated from the option declarations and kept in sync."""

from __future__ import annotations

import subprocess
import sys

from hurtle.config import options
from hurtle.docgen import render
from support import REPO

DOC = REPO / "docs" / "configuration.md"


def test_configuration_page_is_up_to_date() -> None:
    committed = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    assert committed == render(), (
        "docs/configuration.md differs from the option declarations in "
        "src/hurtle/config.py: run `make docs` and commit the result"
    )


def test_every_option_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for opt in options():
        assert opt.env_var in text, opt.name
        if opt.name != "config":  # the one option a TOML file cannot set
            assert f"`{opt.name}`" in text, opt.name
        assert opt.help in text, opt.name
        if opt.cli and opt.name != "app":
            assert f"`{opt.flag}" in text, opt.name
        if opt.is_bool:
            assert f"`--no-{opt.flag[2:]}`" in text, opt.name


def test_render_is_deterministic() -> None:
    assert render() == render()


def test_module_prints_the_page() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hurtle.docgen"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == render()
