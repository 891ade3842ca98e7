"""The README's promises: its quick start is what CI runs, and its examples work as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_ci_runs_the_readme_quick_start() -> None:
    setup, tests = quick_start()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup in ci and tests in ci


def test_ci_runs_the_full_matrix_after_the_readme_tests_and_the_readme_says_so() -> None:
    _, tests = quick_start()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    full = f"{tests} --full"
    assert full in ci and ci.index(full) > ci.index(tests)
    assert f"`{full}`" in (ROOT / "README.md").read_text()


def shell(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "REFCAMP_DB": str(tmp_path / "story.db"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    env.pop("REFCAMP_CAMPAIGNS", None)
    return subprocess.run(
        ["bash", str(ROOT / script), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_seed_story_script(tmp_path: Path) -> None:
    result = shell("examples/seed-story.sh", tmp_path)
    assert result.returncode == 0, result.stderr
    code = re.search(r"NEWCUSTOMER's referral code: ([A-Z0-9]{4}-[A-Z0-9]{4})", result.stdout)
    assert code, result.stdout
    assert "acceptReferral" in result.stdout
    balances = re.findall(r"sample-wallet\s*│\s*Sample wallet\s*│\s*(\d+)", result.stdout)
    assert balances == ["100", "50"], result.stdout


@pytest.mark.slow
def test_seed_story_script_run_twice_stops_and_says_why(tmp_path: Path) -> None:
    assert shell("examples/seed-story.sh", tmp_path).returncode == 0
    again = shell("examples/seed-story.sh", tmp_path)
    assert again.returncode == 1, again.stdout
    assert "NEWCUSTOMER's referral code: \n" not in again.stdout
    assert "No referral code for NEWCUSTOMER" in again.stderr
    assert "FRIEND1" not in again.stdout  # nothing went on with an empty code


def test_seed_session_example_is_the_tutorial_body(tmp_path: Path) -> None:
    body = json.loads((ROOT / "examples" / "seed-session.json").read_text())
    session = body["customerSession"]
    assert session["referralCode"] == "JY9P-HYL8"
    assert session["cartItems"][0]["Category"] == "Accessories"
