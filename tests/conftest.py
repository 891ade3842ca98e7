"""Every test runs in its own directory with its own state file; no test touches a real home."""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import typer.testing
from hypothesis import settings
from pg_cluster import FIND_STATELESS, Cluster
from typer.testing import CliRunner

from refcamp.cli import app
from refcamp.paths import SAMPLES, location
from refcamp.store.copy import tables
from refcamp.store.db import connect

# Typer turns the app into Click commands at every CliRunner.invoke (~80 ms for refcamp's tree,
# 95% of an in-process command); the commands it builds are stateless, so the tests build them
# once, as one `refcamp` process does. (Typer is pinned below 0.30 in pyproject.toml;
# tests/test_typer_internals.py checks that _get_command is there.)
typer.testing._get_command = functools.cache(typer.testing._get_command)

ENV = ("REFCAMP_DB", "REFCAMP_CAMPAIGNS", "REFCAMP_NOW", "REFCAMP_SEED", "REFCAMP_DEBUG")


ENGINES = ("sqlite", "postgresql")

# The default run (`python -m pytest`) is the one people wait for: every test runs, on SQLite, and
# the tests marked `both_engines` (concurrency, an older schema migrated, what PostgreSQL does
# differently, one story per door) also on PostgreSQL, beside tests/test_postgres*.py, which pick
# their own places; the property tests draw a quarter of their examples (`examples`) and the
# sustained loads last 10 s. `python -m pytest --full` (CI runs it after the default run) is the
# full matrix: every state-touching test on both engines, every property test at its full example
# count, the loads for 30 s (`full_run`).
FULL = False
# The share of each property test's examples the default run draws (see `examples`).
QUICK_SHARE = 0.25


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help="refcamp's full matrix: every state-touching test on SQLite and on PostgreSQL, and "
        "the hypothesis tests at their full example count (CI runs it after the default run)",
    )


def pytest_configure(config: pytest.Config) -> None:
    global FULL
    FULL = bool(config.getoption("full", default=False))
    # The profiles give the tests with no count of their own theirs (hypothesis' default, 100, in
    # the full run); `examples(n)` scales the counts the tests set themselves by the same switch.
    settings.register_profile("refcamp-full", max_examples=100)
    settings.register_profile("refcamp-default", max_examples=round(100 * QUICK_SHARE))
    settings.load_profile("refcamp-full" if FULL else "refcamp-default")


def full_run() -> bool:
    """Whether this is the full matrix (`--full`), read when a test module is imported."""
    return FULL


def examples(full: int) -> int:
    """How many examples a property test that draws `full` in the full run draws in this run: all
    of them with --full, a share (QUICK_SHARE, at least 5) in the default run."""
    if FULL:
        return full
    return min(full, max(5, round(full * QUICK_SHARE)))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that touches state runs once per engine the state can live in (a SQLite file, a
    PostgreSQL database) where the engine matters: in the default run the tests marked
    `both_engines`, with --full every one. Those about the SQLite file itself and those that touch
    no state run once, on SQLite, in either run. The ids stay `[sqlite]` and `[postgresql]`."""
    if "engine" not in metafunc.fixturenames:
        return
    marked = metafunc.definition.get_closest_marker
    one = marked("sqlite_only") or marked("stateless")
    both = not one and (FULL or marked("both_engines"))
    metafunc.parametrize("engine", ENGINES if both else ENGINES[:1])


@pytest.hookimpl(trylast=True)  # after tests/console/conftest.py has marked its tests slow
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first, each group in its files' order: xdist's workers start the
    long tests while there is other work to share out, instead of the run's end waiting for one."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """This test process's own PostgreSQL server (each xdist worker starts one)."""
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def state_url(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Where this test's state lives: a SQLite file, or a fresh schema of the PostgreSQL server."""
    if engine != "postgresql":
        yield str(tmp_path / "state.db")
        return
    cluster: Cluster = request.getfixturevalue("postgres")
    url = cluster.url()
    report = os.environ.get(FIND_STATELESS)
    before = cluster.connections() if report else 0
    yield url
    if report:  # `REFCAMP_FIND_STATELESS=FILE python -m pytest --full -k postgresql`
        with open(report, "a") as out:
            out.write(f"{cluster.connections() - before}\t{request.node.nodeid}\n")


@pytest.fixture
def new_state(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Another state of this test's engine, fresh and empty: `new_state()` (`new_state("x.db")`
    to choose the file's name) is a new file in the test's directory, or a new schema of the
    PostgreSQL server."""
    numbers = iter(range(1, 1_000_000))

    def make(name: str | None = None) -> str:
        if engine == "postgresql":
            cluster: Cluster = request.getfixturevalue("postgres")
            return cluster.url()
        return str(tmp_path / (name or f"state-{next(numbers)}.db"))

    return make


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_url: str) -> Path:
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
    monkeypatch.setenv("REFCAMP_DB", state_url)
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


# --- outcomes every file checks -------------------------------------------------------------------

T0 = "2026-05-01T00:00:00Z"  # the simulated time the rule and limit tests run at unless told


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_loads(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, which are not JSON."""
    return json.loads(text, parse_constant=_no_constant)


def ok(result: Any) -> Any:
    """Exit 0; returns `result` (from the `run` fixture or from subprocess.run)."""
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert code == 0, result
    return result


def check_db(run: Run, *options: str) -> None:
    """The state file is sound: `db check --json` (with the global options given) exits 0 with
    strict JSON saying ok and listing no problems."""
    result = run(*options, "db", "check", "--json")
    assert result.exit_code == 0, result
    data = strict_loads(result.stdout)
    assert data["ok"] is True, data
    assert data["problems"] == [], data


class Refcamp:
    """refcamp bound to one campaign directory and one simulated time: `rc(*args, now=...)`
    (now=None leaves the clock to REFCAMP_NOW or the real one)."""

    def __init__(self, run: Run, directory: Path) -> None:
        self.run = run
        self.directory = directory

    def __call__(
        self,
        *args: str,
        now: str | None = T0,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Any:
        options = ["--campaigns", str(self.directory)]
        if now is not None:
            options += ["--now", now]
        return self.run(*options, *args, input=input, env=env)

    def json(self, *args: str, now: str | None = T0, input: str | None = None) -> Any:
        return ok(self(*args, "--json", now=now, input=input)).json

    def check(self, now: str | None = T0) -> None:
        """The state file is sound (see check_db)."""
        check_db(self.run, "--campaigns", str(self.directory), *(["--now", now] if now else []))

    def register(self, profile: str, now: str = T0) -> Any:
        """`profile update PROFILE --json`."""
        return self.json("profile", "update", profile, now=now)

    def update(self, *args: str, now: str = T0) -> Any:
        """`session update ... --json`."""
        return self.json("session", "update", *args, now=now)

    def close(self, *args: str, now: str = T0) -> Any:
        """`session close ... --json`."""
        return self.json("session", "close", *args, now=now)

    def track(self, *args: str, now: str = T0) -> Any:
        """`event track ... --json`."""
        return self.json("event", "track", *args, now=now)

    def payload(self, *args: str, body: Any, now: str = T0) -> Any:
        """A command with `--payload -` and a JSON body on stdin, `--json`."""
        return self.json(*args, "--payload", "-", now=now, input=json.dumps(body))

    def balance(self, profile: str, program: str = "wallet", now: str = T0) -> dict[str, int]:
        """current, pending, expired and spent points of one program, under LedgerInfo's names:
        getLoyaltyBalances' balance (`loyalty balance --program --json`). The customer's Loyalty
        (`loyalty balance --json`) agrees and, as Talon.One's LedgerInfo, shows expiredBalance
        and spentBalance as 0 and tentative balances equal to the balances (no open session)."""
        loyalty = self.json("loyalty", "balance", profile, now=now)
        ledger = dict(program_of(loyalty, program)["ledger"])
        points = self.json("loyalty", "balance", profile, "--program", program, now=now)
        live = points["balance"]
        assert ledger == {
            "currentBalance": live["activePoints"],
            "pendingBalance": live["pendingPoints"],
            "expiredBalance": 0,
            "spentBalance": 0,
            "tentativeCurrentBalance": live["activePoints"],
            "tentativePendingBalance": live["pendingPoints"],
        }, (ledger, live)
        return {
            "currentBalance": live["activePoints"],
            "pendingBalance": live["pendingPoints"],
            "expiredBalance": live["expiredPoints"],
            "spentBalance": live["spentPoints"],
        }

    def current(self, profile: str, program: str = "wallet", now: str = T0) -> int:
        return self.balance(profile, program, now)["currentBalance"]

    def ledger(self, profile: str) -> list[dict[str, Any]]:
        """Every entry of `loyalty ledger PROFILE --json` (one page), oldest first (the JSON lists
        them newest first, as Talon.One's transactions)."""
        page = self.json("loyalty", "ledger", profile)
        assert page["hasMore"] is False
        return page["data"][::-1]

    def code(self, campaign: str, advocate: str, code: str) -> str:
        """`referral create` with a chosen code; the code it printed."""
        args = ("referral", "create", "--campaign", campaign, "--advocate", advocate)
        return ok(self(*args, "--code", code, "-q")).stdout.strip()

    def talon_id(self, kind: str, key: str) -> int:
        """The integer id Talon.One's shapes give a campaign, ruleset or program of the files."""
        return talon_id(self, kind, key)


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
    with closing(open_state(state_file(run, *options))) as conn:
        row = conn.execute(
            "SELECT number FROM talon_ids WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
    assert row is not None, f"no {kind} {key!r} has a Talon.One id"
    return int(row[0])


def open_state(where: str) -> Any:
    """A connection to the state at `where` (a file or a postgresql:// URL), as refcamp opens it:
    rows by name and by position, the same SQL on both engines."""
    return connect(location(where))


def state_exists(where: str) -> bool:
    """Whether refcamp has made the state at `where`: the file exists, or the PostgreSQL schema
    holds tables (looked at without opening it as refcamp, which would make them)."""
    if not where.startswith("postgresql://"):
        return Path(where).exists()
    import psycopg

    with psycopg.connect(where) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()
    return bool(row and row[0])


def state_rows(where: str) -> dict[str, list[str]]:
    """Every row of every table of the state at `where` (either engine), for comparing a state
    before and after something that must change nothing."""
    with closing(open_state(where)) as conn:
        return {
            table: sorted(repr(tuple(row)) for row in conn.execute(f"SELECT * FROM {table}"))
            for table in sorted(tables(conn) | {"migrations"})
        }


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
    with closing(open_state(state_file(run, *options))) as conn:
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


# --- campaign files as text (tests/engine/ and the CLI's rule stories write them alike) ---------

HIT = '{ effect = "show_notification", title = "hit" }'  # the effect that says a test rule fired
WALLET = '\n[[loyalty_program]]\nid = "wallet"\n'


def campaign(
    *rules: str, cid: str = "rl", priority: int = 0, extra: str = "", wallet: bool = False
) -> str:
    """An enabled campaign with the rules given (see `rule`)."""
    text = f'[campaign]\nid = "{cid}"\nstate = "enabled"\npriority = {priority}\n{extra}\n'
    return text + (WALLET if wallet else "") + "".join(rules)


def rule(when: str, then: str = HIT, name: str = "r") -> str:
    """One [[rules]] table; `when` and `then` are the insides of the arrays."""
    return f'\n[[rules]]\nname = "{name}"\nwhen = [{when}]\nthen = [{then}]\n'


def attribute(path: str, op: str, value: str | None = None) -> str:
    """An attribute condition; `value` is TOML text (None: no value key)."""
    extra = f", value = {value}" if value is not None else ""
    return f'{{ attribute = "{path}", op = "{op}"{extra} }}'
