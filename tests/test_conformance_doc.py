"""docs/conformance.md names real tests, and every MUST in it has one.

The page lists the server requirements of RFC 9112 and RFC 9110 in tables of
`| § | requirement (level) | hurtle | test |`. A row that names a test that
does not exist, or a MUST or MUST NOT row without a test, fails here; so does
a SHOULD row without a test that does not say why hurtle departs from it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from support import REPO

DOC = REPO / "docs" / "conformance.md"
# `tests/wire/test_h1_parser.py::test_name`, `...::Class::test_name`, `...::test_name[param]`
_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)((?:::\w+)+)(\[[^\]`]*\])?`")
_LEVEL = re.compile(r"\((MUST NOT|MUST|SHOULD NOT|SHOULD|MAY)[^)]*\)")
_SECTION = re.compile(r"^## RFC (9112|9110)\b(?: section (\d+))?")


@dataclass
class Row:
    line: int
    section: str
    requirement: str
    hurtle: str
    tests: str

    @property
    def levels(self) -> list[str]:
        return _LEVEL.findall(self.requirement)


def rows(text: str) -> list[Row]:
    """The requirement rows of every table in `text` (header and separator rows skipped)."""
    found: list[Row] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if cells[0] in ("§", "---"):
            continue
        assert len(cells) == 4, f"line {number}: a row has four cells: {line}"
        found.append(Row(number, *cells))
    return found


@cache
def _defined_tests(path: Path) -> frozenset[str]:
    """`name` and `Class::name` of every test function a module defines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(name for name in names if name.rsplit("::", 1)[-1].startswith("test"))


def problems(text: str, root: Path) -> list[str]:
    """Everything wrong with the tables of `text`; test paths are relative to `root`."""
    found: list[str] = []
    table_rows = rows(text)
    if not table_rows:
        return ["no requirement rows"]
    for row in table_rows:
        references = _REFERENCE.findall(row.tests)
        leftover = _REFERENCE.sub("", row.tests).replace(",", "").strip()
        if leftover:
            found.append(f"line {row.line}: not a test reference: {leftover!r}")
        for path, parts, _param in references:
            module = root / path
            name = parts.removeprefix("::")
            if not module.is_file():
                found.append(f"line {row.line}: no such file {path}")
            elif name not in _defined_tests(module):
                found.append(f"line {row.line}: {path} defines no test {name}")
        levels = row.levels
        if any(level.startswith("MUST") for level in levels) and not references:
            found.append(f"line {row.line}: a MUST row names no test")
        if (
            any(level.startswith("SHOULD") for level in levels)
            and not references
            and "departs:" not in row.hurtle
        ):
            found.append(f"line {row.line}: a SHOULD row with no test must say why it departs")
    return found


def covered_sections(text: str) -> set[str]:
    return {
        f"{match.group(1)}:{match.group(2) or ''}"
        for match in map(_SECTION.match, text.splitlines())
        if match
    }


def test_every_named_test_exists_and_every_must_has_one() -> None:
    assert problems(DOC.read_text(encoding="utf-8"), REPO) == []


def test_rfc_9112_sections_2_to_9_and_rfc_9110_are_covered() -> None:
    sections = covered_sections(DOC.read_text(encoding="utf-8"))
    assert {f"9112:{n}" for n in range(2, 10)} | {"9110:"} <= sections


def test_rows_cite_the_section_their_table_is_about() -> None:
    """A row's § belongs to the section of the table it sits in (RFC 9112 tables)."""
    current = ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = _SECTION.match(line)
        if match:
            current = match.group(2) or ""
        elif line.startswith("| ") and current and not line.startswith(("| §", "| ---")):
            section = line.split(" | ")[0].removeprefix("| ")
            assert section.split(".")[0] == current, line


# -- the checker itself must catch what it is for ------------------------------------

GOOD = "| 6.1 | x (MUST) | y | `tests/test_conformance_doc.py::test_checker_accepts_a_good_row` |"


def test_checker_accepts_a_good_row() -> None:
    assert problems(GOOD, REPO) == []


@pytest.mark.parametrize(
    ("row", "complaint"),
    [
        ("| 6.1 | x (MUST) | y | `tests/test_conformance_doc.py::test_nothing_here` |", "no test"),
        ("| 6.1 | x (MUST) | y | `tests/no_such_file.py::test_a` |", "no such file"),
        ("| 6.1 | x (MUST NOT) | y |  |", "names no test"),
        ("| 6.1 | x (SHOULD) | y |  |", "why it departs"),
        ("| 6.1 | x (MUST) | y | test_bare_name |", "not a test reference"),
        ("| 6.1 | x (MUST) | y |", "four cells"),
    ],
    ids=["unknown-test", "unknown-file", "must-untested", "should-unexplained", "bare", "cells"],
)
def test_checker_catches(row: str, complaint: str) -> None:
    try:
        found = problems(row, REPO)
    except AssertionError as error:
        found = [str(error)]
    assert any(complaint in problem for problem in found), found


def test_checker_accepts_class_methods_params_and_explained_departures(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "class TestGroup:\n    def test_inside(self): ...\n    def helper(self): ...\n"
        "async def test_async(): ...\n"
    )
    good = [
        "| 3 | x (SHOULD) | departs: because | |",
        "| 3 | x (MUST) | y | `tests/test_x.py::TestGroup::test_inside` |",
        "| 3 | x (MUST) | y | `tests/test_x.py::test_async[a-b]`, `tests/test_x.py::test_async` |",
    ]
    assert problems("\n".join(good), tmp_path) == []
    bad = "| 3 | x (MUST) | y | `tests/test_x.py::TestGroup::helper` |"
    assert problems(bad, tmp_path) == ["line 1: tests/test_x.py defines no test TestGroup::helper"]
