"""Every test runs in its own directory with its own state file; no test touches a real home."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from refcamp.cli import app
from refcamp.paths import SAMPLES

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
