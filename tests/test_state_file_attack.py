"""The state file under attack: a simulation never writes it (not even with --db naming it), a
dry run leaves it byte for byte, a FIFO, directory, device or symbolic-link trap in its place is
refused at once, a simulation estimated to run for hours asks for --yes, and an empty file that
refcamp initialises is made private like one it creates.

Commands run in real processes (`python -m refcamp`) with a timeout, so a hang fails the test
instead of stalling the suite."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, ok

# The SQLite state file itself under attack (its bytes, modes, -wal files, what lies in its
# place); a forecast or dry run writing nothing to a PostgreSQL state is tested in
# tests/test_postgres.py and by the hardening tests on both engines.
pytestmark = pytest.mark.sqlite_only

CAMPAIGN = "medium-referral"
COUPONS = "spring-coupons"
START = "2026-03-01T00:00:00Z"
SMALL = ("--customers", "200", "--days", "10", "--seed", "7")
SIBLINGS = ("-wal", "-shm", "-journal")


def refcamp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """refcamp in its own process, stdin closed (nothing may wait for a terminal); a hang past
    `timeout` raises TimeoutExpired, failing the test."""
    env = {k: v for k, v in os.environ.items() if k != "REFCAMP_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "refcamp", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )


def one_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The command failed with `code` and said why in exactly one line."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("refcamp: error: "), proc.stderr
    return lines[0]


def files(db: Path) -> dict[str, tuple[bytes, int, int]]:
    """The state file and whatever lies beside it: name -> (bytes, mtime in ns, mode)."""
    found = {}
    for path in sorted(db.parent.glob(f"{db.name}*")):
        info = path.stat()
        found[path.name] = (path.read_bytes(), info.st_mtime_ns, stat.S_IMODE(info.st_mode))
    return found


def states(*options: str) -> dict[str, str]:
    listed = json.loads(ok(refcamp(*options, "campaign", "list", "--json")).stdout)
    return {c["refcamp"]["id"]: c["state"] for c in listed}


def check_clean(*options: str) -> None:
    report = json.loads(ok(refcamp(*options, "db", "check", "--json")).stdout)
    assert report["ok"] is True, report


def simulate(*args: str, options: tuple[str, ...] = ()) -> dict[str, Any]:
    """simulate's --json report; `options` are the global ones (--db)."""
    proc = refcamp(*options, "--now", START, "simulate", *SMALL, *args, "--json")
    return json.loads(ok(proc).stdout)


def with_coupons_enabled(campaigns: Path) -> None:
    """The coupon campaign enabled in its TOML, so a simulation of it makes coupons."""
    toml = campaigns / f"{COUPONS}.toml"
    toml.write_text(toml.read_text().replace('state = "disabled"', 'state = "enabled"', 1))


# --- item 3: a simulation never writes the state file --------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "chosen",
    [(), ("--campaign", COUPONS), ("--campaign", CAMPAIGN, "--campaign", COUPONS)],
    ids=["enabled-in-the-state-file", "another-campaign", "both"],
)
def test_simulate_never_writes_the_state_file_db_names(
    tmp_path: Path, campaigns_dir: Path, chosen: tuple[str, ...]
) -> None:
    real = tmp_path / "real.db"
    db = ("--db", str(real))
    ok(refcamp(*db, "campaign", "activate", CAMPAIGN))
    code = ok(refcamp(*db, "profile", "update", "REAL", "-q")).stdout.strip()
    before = files(real)
    assert list(before) == ["real.db"]  # checkpointed, nothing beside it
    time.sleep(0.01)  # a write now would show in the mtime even on a coarse clock

    report = simulate(*chosen, options=db)

    assert files(real) == before  # not a byte, not the mtime, no -wal/-shm left beside it
    assert report == simulate(*chosen or ("--campaign", CAMPAIGN))  # the same as in scratch
    assert states(*db) == {CAMPAIGN: "enabled", COUPONS: "disabled"}
    assert [
        r["code"] for r in json.loads(ok(refcamp(*db, "referral", "list", "--json")).stdout)
    ] == [code]
    assert refcamp(*db, "profile", "show", "SIM-C0").returncode == 1
    check_clean(*db)


@pytest.mark.slow
def test_simulate_sees_campaign_states_a_running_process_has_not_checkpointed(
    isolated: Path,
) -> None:
    """While another process has the file open (serve, a long replay), its commits sit in the
    -wal file: simulate reads them, and writes nothing beside the file either."""
    db = isolated / "state.db"
    ok(refcamp("campaign", "list"))
    with closing(sqlite3.connect(db)) as holder:  # like a running server: keeps the WAL alive
        holder.execute("SELECT count(*) FROM campaigns").fetchall()
        ok(refcamp("campaign", "activate", CAMPAIGN))
        assert (isolated / "state.db-wal").stat().st_size > 0
        before = {name: found[0] for name, found in files(db).items() if name != "state.db-shm"}
        report = simulate()
        assert [f["campaignId"] for f in report["campaigns"]] == [CAMPAIGN]
        after = {name: found[0] for name, found in files(db).items() if name != "state.db-shm"}
        assert after == before
    check_clean()


def foreign(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE campaigns (id TEXT, state TEXT)")
        conn.execute("INSERT INTO campaigns VALUES ('medium-referral', 'enabled')")
        conn.commit()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda db: db.write_bytes(b"not a database"), "not a SQLite database"),
        (foreign, "not refcamp's"),
    ],
    ids=["not-sqlite", "foreign-sqlite"],
)
def test_simulate_refuses_a_state_file_refcamp_refuses(
    isolated: Path, make: Callable[[Path], Any], words: str
) -> None:
    """Reading campaign states, simulate refuses what every command refuses, instead of reading
    another program's table or silently taking none."""
    db = isolated / "state.db"
    make(db)
    before = files(db)
    line = one_error(refcamp("--now", START, "simulate", *SMALL))
    assert words in line and str(db) in line
    assert files(db) == before


@pytest.mark.slow
def test_simulate_into_keeps_the_simulation_in_a_new_file_only(
    tmp_path: Path, isolated: Path
) -> None:
    kept = tmp_path / "kept" / "simulated.db"
    report = simulate("--campaign", CAMPAIGN, "--into", str(kept))
    assert report == simulate("--campaign", CAMPAIGN)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert not (isolated / "state.db").exists()  # the state file is not created
    into = ("--db", str(kept))
    stats = json.loads(ok(refcamp(*into, "campaign", "stats", CAMPAIGN, "--json")).stdout)
    assert stats == report["campaigns"][0]
    ok(refcamp(*into, "profile", "show", "SIM-C0"))
    check_clean(*into)

    # never over an existing file, and never into the state file itself
    before = files(kept)
    again = refcamp("--now", START, "simulate", *SMALL, "--campaign", CAMPAIGN, "--into", str(kept))
    assert "exists" in one_error(again) and str(kept) in again.stderr
    assert files(kept) == before
    state = refcamp("--now", START, "simulate", *SMALL, "--campaign", CAMPAIGN, "--into",
                    str(isolated / "state.db"))  # fmt: skip
    assert "state file" in one_error(state)
    assert not (isolated / "state.db").exists()


def test_dry_runs_leave_the_state_file_byte_for_byte(
    run: Run, active: Run, campaigns_dir: Path, isolated: Path
) -> None:
    db = isolated / "state.db"
    code = run("profile", "update", "ADV", "-q").stdout.strip()
    closed = run(
        "session", "close", "S1", "--profile", "F", "--referral", code,
        "--item", "sku=a,price=30,quantity=2", "--json",
    )  # fmt: skip
    assert closed.exit_code == 0, closed
    assert run("session", "update", "OPEN", "--profile", "F", "--json").exit_code == 0
    before = files(db)
    dry_runs = [
        ("profile", "update", "ADV", "--attr", "Name=X", "--dry-run", "--json"),
        ("profile", "update", "NEW", "--dry-run", "--json"),
        ("session", "close", "S2", "--profile", "F2", "--referral", code, "--dry-run", "--json"),
        ("session", "close", "OPEN", "--dry-run", "--json"),
        ("session", "cancel", "S1", "--dry-run", "--json"),
        ("session", "reopen", "S1", "--dry-run", "--json"),
        ("session", "return", "S1", "--item", "position=0", "--dry-run", "--json"),
        ("event", "track", "review", "--profile", "ADV", "--dry-run", "--json"),
        ("event", "track", "review", "--profile", "NOBODY", "--dry-run", "--json"),
    ]
    for args in dry_runs:
        result = run(*args)
        assert result.exit_code == 0, (args, result)
        assert result.json, args
        assert files(db) == before, args


# --- item 12: a simulation estimated to take hours asks for --yes --------------------------------


@pytest.mark.parametrize(
    "population",
    [
        ("--customers", "1000000", "--friends-per-advocate", "100"),
        ("--customers", "100000", "--friends-per-advocate", "100", "--referral-rate", "1"),
        (
            "--customers",
            "1000000",
        ),
    ],
)
def test_a_simulation_estimated_to_run_long_asks_for_yes(
    isolated: Path, population: tuple[str, ...]
) -> None:
    started = time.monotonic()
    proc = refcamp("--now", START, "simulate", *population, "--campaign", CAMPAIGN, timeout=30)
    line = one_error(proc)
    assert time.monotonic() - started < 30
    assert "requests" in line and "--yes" in line, line
    assert not (isolated / "state.db").exists()


@pytest.mark.parametrize(
    "population",
    [{}, {"friends_per_advocate": 5.0, "referral_rate": 1.0}, {"cancel_rate": 1.0}],
)
@pytest.mark.slow
def test_the_estimate_errs_high(run: Run, population: dict[str, float]) -> None:
    """The estimate the refusal quotes is never below what a run makes (one referral code per
    advocate in the seed campaign), nor far above it."""
    from refcamp.simulate import Population

    options = [(f"--{k.replace('_', '-')}", str(v)) for k, v in population.items()]
    args = ("--customers", "300", "--days", "30", *(word for pair in options for word in pair))
    result = run("--now", START, "simulate", *args, "--campaign", CAMPAIGN, "--json")
    assert result.exit_code == 0, result
    made = sum(result.json["requests"].values())
    estimate = Population(customers=300, days=30, **population).requests(1)
    assert made <= estimate <= 1.5 * made


def test_yes_runs_the_same_simulation(run: Run) -> None:
    args = ("--now", START, "simulate", *SMALL, "--campaign", CAMPAIGN, "--json")
    plain = run(*args)
    assert plain.exit_code == 0, plain
    confirmed = run(*args, "--yes")
    assert confirmed.exit_code == 0, confirmed
    assert confirmed.json == plain.json


# --- item 9: a state file that is not a regular file is refused at once --------------------------


def fifo(db: Path) -> str:
    os.mkfifo(db)
    return "named pipe"


def fifo_through_a_link(db: Path) -> str:
    os.mkfifo(db.parent / "pipe")
    db.symlink_to(db.parent / "pipe")
    return "named pipe"


def fifo_beside(suffix: str) -> Callable[[Path], str]:
    def make(db: Path) -> str:
        ok(refcamp("--db", str(db), "campaign", "list"))
        os.mkfifo(f"{db}{suffix}")
        return "named pipe"

    make.__name__ = f"fifo_as{suffix.replace('-', '_')}"
    return make


def directory(db: Path) -> str:
    db.mkdir()
    return "directory"


def device(db: Path) -> str:
    db.symlink_to("/dev/null")
    return "character device"


def link_loop(db: Path) -> str:
    other = db.parent / "other.db"
    db.symlink_to(other)
    other.symlink_to(db)
    return "symbolic links"


def dangling_link(db: Path) -> str:
    db.symlink_to(db.parent / "gone" / "state.db")
    return "does not exist"


TRAPS = [
    fifo,
    fifo_through_a_link,
    fifo_beside("-wal"),
    fifo_beside("-shm"),
    fifo_beside("-journal"),
    directory,
    device,
    link_loop,
    dangling_link,
]
COMMANDS = [
    ("campaign", "list"),
    ("profile", "update", "X"),
    ("db", "check"),
    # without --campaign, simulate reads the campaign states in the state file
    ("--now", START, "simulate", "--customers", "10", "--days", "1"),
]


@pytest.mark.slow
@pytest.mark.parametrize("trap", TRAPS, ids=lambda t: t.__name__)
def test_a_state_file_that_is_not_a_regular_file_is_refused_promptly(
    tmp_path: Path, trap: Callable[[Path], str]
) -> None:
    db = tmp_path / "trap" / "state.db"
    db.parent.mkdir()
    words = trap(db)
    before = sorted(p.name for p in db.parent.iterdir())
    for command in COMMANDS:
        started = time.monotonic()
        proc = refcamp("--db", str(db), *command, timeout=20)
        line = one_error(proc)
        assert words in line, (command, line)
        assert str(db) in line or f"{db}-" in line, line
        assert time.monotonic() - started < 20
        assert sorted(p.name for p in db.parent.iterdir()) == before, command


# --- item 12: an empty state file refcamp initialises is made private ---------------------------


@pytest.mark.slow
def test_an_empty_state_file_is_made_private_with_what_lies_beside_it(isolated: Path) -> None:
    db = isolated / "state.db"
    db.touch()
    db.chmod(0o644)
    for suffix in ("-wal", "-shm"):  # left over, empty, readable by everyone
        Path(f"{db}{suffix}").touch()
        Path(f"{db}{suffix}").chmod(0o644)
    ok(refcamp("campaign", "activate", CAMPAIGN))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    with closing(sqlite3.connect(db)) as reader:  # SQLite makes -wal/-shm with the file's mode
        reader.execute("SELECT count(*) FROM campaigns").fetchall()
        for suffix in ("-wal", "-shm"):
            assert stat.S_IMODE(Path(f"{db}{suffix}").stat().st_mode) == 0o600, suffix
    assert states() == {CAMPAIGN: "enabled", COUPONS: "disabled"}
    check_clean()


@pytest.mark.slow
def test_a_state_file_in_use_keeps_the_mode_its_owner_gave_it(isolated: Path) -> None:
    """Only an empty file is refcamp's to make private: a database someone chose to share stays
    as it is."""
    db = isolated / "state.db"
    ok(refcamp("campaign", "list"))
    db.chmod(0o640)
    ok(refcamp("campaign", "activate", CAMPAIGN))
    assert stat.S_IMODE(db.stat().st_mode) == 0o640
