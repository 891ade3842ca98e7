"""The CLI app: one app for tests and users, its nouns and a group's commands loaded only when
named, and one Output per run that owns stdout, stderr and the progress bars."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from conftest import Run
from typer.models import OptionInfo

from refcamp import render
from refcamp.cli import NOUNS, app, commands
from refcamp.cli.typer_internals import build_runtime_param, resolve_type_descriptor

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

CAMPAIGNS = Path(__file__).resolve().parents[1] / "campaigns"
PROBE = """
import atexit, sys
atexit.register(lambda: print(*sorted(sys.modules), sep="\\n", file=sys.stderr))
sys.argv = ["refcamp", *sys.argv[1:]]
from refcamp.cli import main
main()
"""


def imported(*args: str) -> set[str]:
    """The refcamp (and uvicorn, Pydantic) modules a real `refcamp ARGS` process has imported at
    its end; the command must succeed (one that stops early imports less)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = (line.strip() for line in done.stderr.splitlines())
    return {name for name in names if name.startswith(("refcamp", "uvicorn", "pydantic"))}


def test_one_app_lists_every_noun_in_help_order() -> None:
    group = typer.main.get_command(app)
    ctx = group.make_context("refcamp", ["db", "path"], resilient_parsing=True)
    assert group.list_commands(ctx) == list(NOUNS)
    for noun, kind in NOUNS.items():
        command = group.get_command(ctx, noun)
        assert command is not None and command.name == noun
        assert hasattr(command, "commands") == (kind == "group")


def test_a_command_loads_its_own_noun_only() -> None:
    modules = imported("db", "path")
    assert "refcamp.cli.db" in modules
    others = {f"refcamp.cli.{noun}" for noun in NOUNS if noun != "db"}
    assert not modules & others, modules & others
    assert "uvicorn" not in modules


def test_help_loads_every_noun_but_not_the_http_door() -> None:
    modules = imported("--help")
    assert {f"refcamp.cli.{noun}" for noun in NOUNS} <= modules
    assert "refcamp.server" not in modules and "uvicorn" not in modules


@pytest.mark.parametrize(
    "args",
    [
        # numbers, repeated options, a path: refcamp's plain parameters, converted without
        # Typer's Pydantic validators (half of a command's start)
        [
            "simulate",
            "--customers",
            "20",
            "--days",
            "2",
            "--referral-rate",
            "0.5",
            "--campaign",
            "medium-referral",
            "--seed",
            "7",
            "--json",
        ],
        [
            "--campaigns",
            str(CAMPAIGNS),
            "campaign",
            "validate",
            str(CAMPAIGNS / "medium-referral.toml"),
        ],
        ["profile", "update", "P", "--attr", "tier=gold", "--dry-run", "--json"],
    ],
)
def test_a_command_converts_its_values_without_pydantic(args: list[str]) -> None:
    assert not {name for name in imported(*args) if name.startswith("pydantic")}


PLAIN_VALUES = [
    (str, ["x", "", " spaced ", "--"]),
    (int, ["7", "-3", "+5", "007", 7, 0]),
    (float, ["2.5", "1e3", ".5", "-0.25", 3, 2.5]),
    (bool, [True, False]),
    (Path, ["a/b.toml", "/tmp", Path("x")]),
    (list[str], [("a", "b"), ("",), ()]),
]


@pytest.mark.parametrize(("kind", "values"), PLAIN_VALUES)
def test_plain_values_convert_as_typer_converts_them(kind: type, values: list[Any]) -> None:
    """commands._plain gives what Typer's own (Pydantic) conversion gives, type and value."""
    info = OptionInfo()
    theirs = build_runtime_param(resolve_type_descriptor(kind, info))
    for value in values:
        ours = commands._plain(kind, value)
        expected = theirs._coerce_value(value, param=None, ctx=None)  # type: ignore[arg-type]
        assert (type(ours), ours) == (type(expected), expected), (kind, value)


def test_a_value_that_is_not_plain_goes_to_typer() -> None:
    assert commands._plain(int, "x") is commands._NOT_PLAIN
    assert commands._plain(int, 2.5) is commands._NOT_PLAIN
    assert commands._plain(str, b"bytes") is commands._NOT_PLAIN
    assert commands._plain(list[str], ("a", 1)) is commands._NOT_PLAIN


def test_a_group_builds_the_command_named_only() -> None:
    group = typer.main.get_command(app)
    ctx = group.make_context("refcamp", ["session", "show"], resilient_parsing=True)
    session = group.get_command(ctx, "session")
    assert session is not None
    built = session.commands._built  # type: ignore[attr-defined]
    before = set(built)
    session.get_command(ctx, "show")  # type: ignore[attr-defined]
    assert set(built) - before <= {"show"}


def test_usage_errors_say_what_was_meant(run: Run) -> None:
    for words, wanted in (
        (["profil"], "Did you mean 'profile'?"),
        (["profile", "shw"], "Did you mean 'show'?"),
    ):
        result = run(*words)
        assert result.exit_code == 2, result
        assert wanted in result.stderr or wanted in result.stdout, result


def test_output_writes_to_the_streams_of_its_run() -> None:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        run = render.start()
        render.line("result \x1b[31m")
        render.note("a note")
        run.error("it failed", ["one", "two"], hint=" (see refcamp --help)")
    finally:
        sys.stdout, sys.stderr = saved
    assert out.getvalue() == "result \\x1b[31m\n"
    assert err.getvalue() == (
        "a note\nrefcamp: error: it failed (see refcamp --help)\n  one\n  two\n"
    )


def test_no_progress_bar_off_a_terminal_or_when_not_shown() -> None:
    saved = sys.stderr
    sys.stderr = io.StringIO()
    try:
        run = render.start()
        with run.progress("replay", 10, "", shown=True) as bar:
            assert bar is None
        with run.progress("replay", 10, "", shown=False) as bar:
            assert bar is None
        assert sys.stderr.getvalue() == ""
    finally:
        sys.stderr = saved
