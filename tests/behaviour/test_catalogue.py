"""docs/talon-one-behaviour.md and the tests cannot drift: every test a row names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
CATALOGUE = ROOT / "docs" / "talon-one-behaviour.md"
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")

pytestmark = pytest.mark.stateless


def test_every_row_names_a_test_that_exists() -> None:
    text = CATALOGUE.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`tests/" in line]
    assert rows, "the catalogue names no test"
    missing = []
    for row in rows:
        for path, name in NAMED.findall(row):
            tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
            defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            if name not in defined:
                missing.append(f"{path}::{name}")
    assert missing == [], missing


def test_every_behaviour_row_names_a_test() -> None:
    """A row of a behaviour table (four columns) without a test is a claim nobody checks."""
    text = CATALOGUE.read_text(encoding="utf-8")
    table = None
    for line in text.splitlines():
        if line.startswith("| behaviour |"):
            table = "behaviour"
        elif line.startswith("| what |"):
            table = "differences"
        elif line.startswith("| model |"):
            table = "fields"  # Request fields: what refcamp does with each, shown by the tests
        elif line.startswith("| ") and not line.startswith("|---") and table == "behaviour":
            assert NAMED.search(line), f"no test named: {line}"
