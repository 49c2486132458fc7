"""docs/deployment.md shows the files of deploy/ as they are, and the tests
use every one of them, so that the page cannot drift from what is tested."""

from __future__ import annotations

import re

from support import REPO, TESTS_DIR

DOC = REPO / "docs" / "deployment.md"
DEPLOY = REPO / "deploy"
# A configuration block: the link to its file, a blank line, then the fence.
FILE_BLOCK = re.compile(r"\[deploy/([^\]]+)\]\([^)]+\)[^\n]*\n\n```[a-z]+\n(.*?)^```$", re.S | re.M)
CONFIG_LANGUAGES = ("nginx", "haproxy", "ini", "yaml", "dockerfile")


def deploy_files() -> set[str]:
    return {str(path.relative_to(DEPLOY)) for path in DEPLOY.rglob("*") if path.is_file()}


def test_every_configuration_block_is_its_file() -> None:
    text = DOC.read_text()
    shown = {}
    for name, block in FILE_BLOCK.findall(text):
        assert name in deploy_files(), f"docs/deployment.md shows deploy/{name}, which is not there"
        assert block == (DEPLOY / name).read_text(), (
            f"docs/deployment.md differs from deploy/{name}"
        )
        shown[name] = block
    assert set(shown) == deploy_files()
    # No configuration block without its file: each fence of those languages is one shown above.
    fences = re.findall(r"^```(?:" + "|".join(CONFIG_LANGUAGES) + r")$", text, re.M)
    assert len(fences) == len(shown)


def test_every_deploy_file_is_used_by_a_test() -> None:
    tests = [TESTS_DIR / "deploy_tools.py", *(TESTS_DIR / "deploy").glob("test_*.py")]
    sources = "\n".join(path.read_text() for path in tests)
    for name in deploy_files():
        assert f'"{name}"' in sources, f"no test reads deploy/{name}"
