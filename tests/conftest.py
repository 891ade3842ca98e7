"""Every test runs in its own directory with its own state file; no test touches a real home."""

from __future__ import annotations

import functools
import json
import shutil
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import typer.testing
from typer.testing import CliRunner

from refcamp.cli import app
from refcamp.paths import SAMPLES

# Typer turns the app into Click commands at every CliRunner.invoke (~80 ms for refcamp's tree,
# 95% of an in-process command); the commands it builds are stateless, so the tests build them
# once, as one `refcamp` process does. (Typer is pinned below 0.30 in pyproject.toml.)
typer.testing._get_command = functools.cache(typer.testing._get_command)

ENV = ("REFCAMP_DB", "REFCAMP_CAMPAIGNS", "REFCAMP_NOW", "REFCAMP_SEED", "REFCAMP_DEBUG")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("REFCAMP_DB", str(tmp_path / "state.db"))
    return tmp_path


class Result:
    """A finished CLI invocation: exit code, stdout, stderr, and stdout as JSON."""

    def __init__(self, raw: Any) -> None:
        self.exit_code: int = raw.exit_code
        self.stdout: str = raw.stdout
        self.stderr: str = raw.stderr
        self.exception = raw.exception

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return f"<exit {self.exit_code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"


Run = Callable[..., Result]


@pytest.fixture
def run() -> Run:
    """Run refcamp in-process: run("profile", "update", "X", input=None)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        raw = runner.invoke(app, list(args), input=input, env=env)
        if raw.exception is not None and not isinstance(raw.exception, SystemExit):
            raise raw.exception
        return Result(raw)

    return invoke


@pytest.fixture
def campaigns_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the shipped samples, used as the campaign directory."""
    target = tmp_path / "campaigns"
    shutil.copytree(SAMPLES, target)
    monkeypatch.setenv("REFCAMP_CAMPAIGNS", str(target))
    return target


@pytest.fixture
def active(run: Run) -> Run:
    """The seed campaign, activated."""
    result = run("campaign", "activate", "medium-referral")
    assert result.exit_code == 0, result
    return run


# --- Talon.One's shapes --------------------------------------------------------------------------


def talon_id(run: Run, kind: str, key: str, *options: str) -> int:
    """The integer id Talon.One's shapes give refcamp's campaign, ruleset, loyalty program,
    audience or custom effect `key` (kind "campaign", "ruleset", "program", "audience", "effect";
    a ruleset may be named by its campaign's readable id). `options` are the global options of
    the state file and catalog asked about (`--db PATH`, `--campaigns DIR`).

    Campaigns and rulesets are read from `campaign list --json`, which also gives every campaign,
    ruleset, program and custom effect of the catalog its number; the rest from the state file's
    talon_ids table (no command lists a program's number without a customer)."""
    listed = run(*options, "campaign", "list", "--json")
    assert listed.exit_code == 0, listed
    for campaign in listed.json:
        if campaign["refcamp"]["id"] == key and kind in ("campaign", "ruleset"):
            return campaign["id"] if kind == "campaign" else campaign["activeRulesetId"]
    with closing(sqlite3.connect(state_file(run, *options))) as conn:
        row = conn.execute(
            "SELECT number FROM talon_ids WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
    assert row is not None, f"no {kind} {key!r} has a Talon.One id"
    return int(row[0])


def state_file(run: Run, *options: str) -> str:
    """The state file the commands use (`db path`), with the global options given."""
    result = run(*options, "db", "path")
    assert result.exit_code == 0, result
    return result.stdout.strip()


def stored_entry(run: Run, entry_id: int, *options: str) -> dict[str, Any]:
    """The state file's own row of the ledger entry whose Talon.One `id` (in `loyalty ledger
    --json` and `loyalty add/deduct --json`) is `entry_id`: what Talon.One's transaction does not
    show — transaction_uuid, reverses (the transaction_uuid it rolls back), profile_id,
    campaign_id (readable) — as well as the rest."""
    with closing(sqlite3.connect(state_file(run, *options))) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM ledger WHERE id = ?", (entry_id,)).fetchone()
    assert row is not None, f"no ledger entry {entry_id}"
    return dict(row)


def program_of(loyalty: Mapping[str, Any], program: str) -> dict[str, Any]:
    """One program of a Talon.One Loyalty object (`{"programs": {"<int id>": {...}}}`, as
    `loyalty balance --json`, `profile show --json` and IntegrationStateV2 show it), found by its
    readable id: {id, title, name, ledger: {currentBalance, pendingBalance, ...}}."""
    found = [p for p in loyalty["programs"].values() if p["name"] == program]
    assert len(found) == 1, (program, loyalty)
    assert loyalty["programs"][str(found[0]["id"])] is found[0], loyalty
    return found[0]


def assert_input_error(result: Any, *words: str) -> str:
    """Exit 2, nothing on stdout, exactly one 'refcamp: error:' line holding every word, no
    traceback; `result` from the `run` fixture or from subprocess.run (text)."""
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert code == 2, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result
    message = lines[0]
    assert message.startswith("refcamp: error:"), result
    for word in words:
        assert word in message, result
    assert "Traceback" not in result.stderr
    return message
