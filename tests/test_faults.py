"""Faults: a state file damaged behind refcamp's back, a replay killed with SIGKILL, and failing
commands that must leave the state file exactly as it was.

`db check` must find every kind of damage it promises to (each violation one line, exit 1); a
replay killed at any moment must resume so that every request is applied exactly once; and a
command that fails (exit 1 or 2) must not change a single row.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import open_state, state_rows, strict_loads

Run = Callable[..., Any]  # conftest's `run` fixture

CAMPAIGN = "medium-referral"
PROGRAM = "sample-wallet"
TIMEOUT = 120


@contextlib.contextmanager
def connection(where: str, foreign_keys: bool = False) -> Iterator[Any]:
    """A connection bypassing refcamp's requests: a plain sqlite3 one (foreign keys off, as
    SQLite defaults), or to PostgreSQL with its foreign keys' triggers off for this session (as
    a tool writing behind refcamp's back might)."""
    if where.startswith("postgresql://"):
        conn = open_state(where)
        if not foreign_keys:
            conn.execute("SET session_replication_role = replica")
        try:
            yield conn
        finally:
            conn.close()
        return
    conn = sqlite3.connect(where, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    try:
        yield conn
    finally:
        conn.close()


def dump(where: str) -> Any:
    """Every row and every piece of schema of a file, as SQL; every row of a database."""
    if where.startswith("postgresql://"):
        return state_rows(where)
    with connection(where) as conn:
        return list(conn.iterdump())


# --- a real state file to damage -----------------------------------------------------------------


@pytest.fixture
def story(run: Run, state_url: str) -> str:
    """A state file with every kind of row: an advocate with a code, two friends rewarded (one of
    them later cancelled: reversing entries and a rolled-back redemption), a manual addition and
    a deduction."""
    assert run("campaign", "activate", CAMPAIGN).exit_code == 0
    made = run("referral", "create", "--campaign", CAMPAIGN, "--advocate", "ADV",
               "--code", "CODE-1", "-q")  # fmt: skip
    assert made.exit_code == 0, made
    for friend, session in (("F1", "S1"), ("F2", "S2")):
        closed = run("session", "close", session, "--profile", friend, "--referral", "CODE-1")
        assert closed.exit_code == 0, closed
    assert run("session", "cancel", "S2").exit_code == 0
    assert run("loyalty", "add", "ADV", "--program", PROGRAM, "--points", "30",
               "--reason", "goodwill").exit_code == 0  # fmt: skip
    assert run("loyalty", "deduct", "ADV", "--program", PROGRAM, "--points", "20",
               "--reason", "gift").exit_code == 0  # fmt: skip
    assert run("session", "update", "OPEN", "--profile", "F3").exit_code == 0
    return state_url


def check(run: Run, db: str) -> tuple[Any, Any]:
    """`db check` in text and in JSON."""
    return run("--db", str(db), "db", "check"), run("--db", str(db), "db", "check", "--json")


def test_clean_database_checks_ok(run: Run, story: str) -> None:
    text, as_json = check(run, story)
    assert text.exit_code == 0, text
    assert text.stdout.strip() == f"{story}: ok"
    assert as_json.exit_code == 0, as_json
    data = strict_loads(as_json.stdout)
    assert data["ok"] is True and data["problems"] == []
    assert {"ok": True, "problems": []}.items() <= data.items()


def test_check_changes_nothing(run: Run, story: str) -> None:
    before = dump(story)
    for _ in range(2):
        check(run, story)
    assert dump(story) == before


def entry(conn: sqlite3.Connection, where: str) -> sqlite3.Row:
    row = conn.execute(f"SELECT * FROM ledger WHERE {where} ORDER BY id LIMIT 1").fetchone()
    assert row is not None, where
    return row


def insert_entry(conn: sqlite3.Connection, base: sqlite3.Row, **changes: Any) -> None:
    """A new ledger row like `base` (INSERT is allowed: the ledger is append-only)."""
    values = dict(base)
    values.pop("id")
    values.pop("rowid", None)  # PostgreSQL's copy of the id, generated from it
    values.update(changes)
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.execute(f"INSERT INTO ledger ({columns}) VALUES ({marks})", list(values.values()))


def counter_disagrees(conn: sqlite3.Connection) -> str:
    conn.execute("UPDATE referrals SET usage_counter = usage_counter + 2 WHERE code = 'CODE-1'")
    return "referral code CODE-1: usage counter 3 but 1 redemptions not rolled back"


def counter_above_limit(conn: sqlite3.Connection) -> str:
    # Consistent with its redemptions, but over the code's limit.
    conn.execute(
        "INSERT INTO redemptions (kind, code, campaign_id, session_id, profile_id, created) "
        "VALUES ('referral', 'CODE-1', ?, 'OPEN', 'F3', '2026-01-01T00:00:00.000Z')",
        (CAMPAIGN,),
    )
    conn.execute("UPDATE referrals SET usage_counter = 2, usage_limit = 1 WHERE code = 'CODE-1'")
    return "referral code CODE-1: used 2 times, limit 1"


def redemption_of_unknown_code(conn: sqlite3.Connection) -> str:
    conn.execute(
        "INSERT INTO redemptions (kind, code, campaign_id, session_id, profile_id, created) "
        "VALUES ('referral', 'GONE', ?, 'OPEN', 'F3', '2026-01-01T00:00:00.000Z')",
        (CAMPAIGN,),
    )
    return "is of an unknown referral code GONE"


def entry_of_missing_session(conn: sqlite3.Connection) -> str:
    base = entry(conn, "session_id = 'S1' AND profile_id = 'F1'")
    insert_entry(conn, base, transaction_uuid="ghost-session-entry", session_id="GHOST")
    return "ledger entry ghost-session-entry names a missing session GHOST"


def entry_of_unknown_program(conn: sqlite3.Connection) -> str:
    base = entry(conn, "session_id = 'S1' AND profile_id = 'F1'")
    insert_entry(conn, base, transaction_uuid="ghost-program-entry", program_id="ghost-wallet")
    return "ledger entries name an unknown loyalty program ghost-wallet"


def reversed_twice(conn: sqlite3.Connection) -> str:
    reversal = entry(conn, "reverses IS NOT NULL")
    insert_entry(conn, reversal, transaction_uuid="second-reversal")
    return f"ledger entry {reversal['reverses']} is rolled back 2 times"


def reversal_not_mirroring(conn: sqlite3.Connection) -> str:
    # Changing a row needs the append-only trigger out of the way first.
    conn.execute("DROP TRIGGER ledger_append_only_update")
    reversal = entry(conn, "reverses IS NOT NULL")
    conn.execute(
        "UPDATE ledger SET amount = amount + 1 WHERE transaction_uuid = ?",
        (reversal["transaction_uuid"],),
    )
    return f"ledger entry {reversal['transaction_uuid']} does not mirror the entry it reverses"


def reversal_of_the_same_type(conn: sqlite3.Connection) -> str:
    target = entry(conn, "session_id = 'S1' AND profile_id = 'F1'")  # not reversed yet
    insert_entry(conn, target, transaction_uuid="same-type-reversal",
                 reverses=target["transaction_uuid"])  # fmt: skip
    return "ledger entry same-type-reversal does not mirror the entry it reverses"


def session_of_missing_profile(conn: sqlite3.Connection) -> str:
    conn.execute(
        "INSERT INTO sessions (id, profile_id, state, created, updated) "
        "VALUES ('ORPHAN', 'NOBODY', 'open', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')"
    )
    rowid = conn.execute("SELECT rowid FROM sessions WHERE id = 'ORPHAN'").fetchone()[0]
    return f"table sessions row {rowid} points to a missing profiles row"


def entry_of_missing_profile(conn: sqlite3.Connection) -> str:
    base = entry(conn, "session_id = 'S1' AND profile_id = 'F1'")
    insert_entry(conn, base, transaction_uuid="orphan-entry", profile_id="NOBODY", session_id=None)
    rowid = conn.execute("SELECT id FROM ledger WHERE transaction_uuid = 'orphan-entry'").fetchone()
    return f"table ledger row {rowid[0]} points to a missing profiles row"


DAMAGE = [
    counter_disagrees,
    counter_above_limit,
    redemption_of_unknown_code,
    entry_of_missing_session,
    entry_of_unknown_program,
    reversed_twice,
    reversal_not_mirroring,
    reversal_of_the_same_type,
    session_of_missing_profile,
    entry_of_missing_profile,
]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__)
def test_each_kind_of_damage_is_found(
    run: Run, story: str, new_state: Callable[[], str], damage: Callable[[Any], str]
) -> None:
    copy = new_state()
    assert run("db", "copy", story, copy).exit_code == 0
    with connection(copy) as conn:
        expected = damage(conn)
    text, as_json = check(run, copy)

    assert text.exit_code == 1, text
    assert "Traceback" not in text.stderr + text.stdout
    assert any(expected in line for line in text.stdout.splitlines()), (expected, text)
    assert f"{copy}: ok" not in text.stdout
    assert as_json.exit_code == 1, as_json
    data = strict_loads(as_json.stdout)
    assert data["ok"] is False
    assert any(expected in problem for problem in data["problems"]), (expected, data)
    assert len(data["problems"]) == len(text.stdout.splitlines())  # one line per violation
    # The original is untouched, and still sound.
    assert run("db", "check").exit_code == 0


@pytest.mark.both_engines
@pytest.mark.slow
def test_several_kinds_of_damage_are_all_listed(
    run: Run, story: str, new_state: Callable[[], str]
) -> None:
    copy = new_state()
    assert run("db", "copy", story, copy).exit_code == 0
    with connection(copy) as conn:
        expected = [
            damage(conn)
            for damage in (
                counter_disagrees,
                entry_of_missing_session,
                entry_of_unknown_program,
                session_of_missing_profile,
            )
        ]
    _, as_json = check(run, copy)
    assert as_json.exit_code == 1
    problems = strict_loads(as_json.stdout)["problems"]
    for words in expected:
        assert any(words in p for p in problems), (words, problems)


# --- kill -9 in the middle of a replay -----------------------------------------------------------

ADVOCATES = 20
# (registrations, closes, cancels) per engine: enough for several batches (BATCH_LINES lines or
# BATCH_SECONDS each) before the kill at a fifth of the file and after it. A replay into
# PostgreSQL pays a round trip per statement, so its file is shorter (its batches are too).
SIZES = {"sqlite": (1_500, 7_500, 1_000), "postgresql": (400, 2_000, 300)}


def refcamp(db: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFCAMP_")}
    env.update(REFCAMP_DB=str(db), NO_COLOR="1")
    return subprocess.Popen(
        [sys.executable, "-m", "refcamp", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def readers_of(path: Path) -> list[str]:
    """The live processes (Linux) whose command line names `path`."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(path).encode() in words and state != "Z":
            found.append(entry.name)
    return found


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


def replay_lines(codes: list[str], engine: str) -> list[str]:
    registrations, closes, cancels = SIZES[engine]
    lines = []
    for i in range(registrations):  # new advocates: each registration draws a referral code
        lines.append({"path": f"/v2/customer_profiles/B{i}", "query": {"runRuleEngine": "true"},
                      "body": {"attributes": {"n": i}}})  # fmt: skip
    for i in range(closes):  # friends bring the first advocates' codes: 100 + 50 points
        item = {"sku": f"sku-{i % 7}", "quantity": 1 + i % 3, "price": 10}
        session = {"profileId": f"F{i}", "state": "closed", "referralCode": codes[i % len(codes)],
                   "cartItems": [item]}  # fmt: skip
        lines.append({"path": f"/v2/customer_sessions/S{i}", "body": {"customerSession": session}})
    # Revocations roll back points and code uses; only of sessions the file closed (a session is
    # created open or closed, never cancelled).
    for i in range(0, min(cancels * 7, closes), 7):
        lines.append({"path": f"/v2/customer_sessions/S{i}",
                      "body": {"customerSession": {"state": "cancelled"}}})  # fmt: skip
    return [json.dumps(line) for line in lines]


def figures(db: str) -> dict[str, Any]:
    """What a replay leaves behind, independent of random codes, ids and times."""
    with connection(db) as conn:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(sql)]

        return {
            "profiles": rows("SELECT count(*) FROM profiles"),
            "sessions": rows("SELECT state, count(*) FROM sessions GROUP BY state ORDER BY state"),
            "referrals": rows("SELECT count(*), sum(usage_counter) FROM referrals"),
            "counters": rows(
                "SELECT advocate_id, usage_counter FROM referrals WHERE advocate_id LIKE 'A%' "
                "ORDER BY advocate_id"
            ),
            "redemptions": rows(
                "SELECT rolled_back IS NULL, count(*) FROM redemptions GROUP BY 1 ORDER BY 1"
            ),
            "ledger": rows(
                "SELECT type, reverses IS NULL, count(*), sum(amount) FROM ledger "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            "balances": rows(
                "SELECT profile_id, sum(CASE type WHEN 'addition' THEN amount ELSE -amount END) "
                "FROM ledger GROUP BY profile_id ORDER BY profile_id"
            ),
            "events": rows("SELECT count(*) FROM events"),
            "replayed": rows("SELECT lines FROM replays"),
        }


def committed_lines(db: str | Path) -> int:
    """How far a running replay got (its progress commits with each batch), read-only."""
    db = str(db)
    if db.startswith("postgresql://"):
        with contextlib.closing(open_state(db)) as conn:
            return int(conn.execute("SELECT coalesce(max(lines), 0) FROM replays").fetchone()[0])
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT coalesce(max(lines), 0) FROM replays").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    return int(row[0])


@pytest.mark.slow
def test_replay_killed_with_sigkill_resumes_and_applies_every_line_once(
    run: Run, tmp_path: Path, new_state: Callable[[], str], engine: str
) -> None:
    # The first advocates register in a small replay; the big file's closes carry their codes.
    base = new_state()
    assert run("--db", str(base), "campaign", "activate", CAMPAIGN).exit_code == 0
    setup = tmp_path / "setup.jsonl"
    setup.write_text(
        "".join(
            json.dumps(
                {"path": f"/v2/customer_profiles/A{i:02}", "query": {"runRuleEngine": "true"}}
            )
            + "\n"
            for i in range(ADVOCATES)
        )
    )
    assert run("--db", str(base), "replay", str(setup), "--json").exit_code == 0
    listed = strict_loads(run("--db", str(base), "referral", "list", "--json").stdout)
    codes = [r["code"] for r in sorted(listed, key=lambda r: r["advocateProfileIntegrationId"])]
    assert len(codes) == ADVOCATES

    big = tmp_path / "big.jsonl"
    lines = replay_lines(codes, engine)
    registrations, closes, _ = SIZES[engine]
    big.write_text("\n".join(lines) + "\n")
    total = len(lines)
    clean, killed = new_state(), new_state()
    for copy in (clean, killed):
        assert run("db", "copy", base, copy).exit_code == 0

    # The reference: one uninterrupted replay.
    code, out, err = finish(refcamp(clean, "replay", str(big), "--json"))
    assert code == 0, (err, out[-3000:])
    reference = strict_loads(out)
    assert (reference["applied"], reference["failed"]) == (total, 0)

    # Killed with SIGKILL once some batches are committed, well before the end.
    proc = refcamp(killed, "replay", str(big), "--json")
    try:
        deadline = time.monotonic() + TIMEOUT
        while committed_lines(killed) < total // 5:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.kill()
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -9
    # The process reading the file ahead for it notices, and exits too.
    deadline = time.monotonic() + TIMEOUT
    while readers_of(big):
        assert time.monotonic() < deadline, readers_of(big)
        time.sleep(0.05)
    done = committed_lines(killed)
    assert total // 5 <= done < total, done

    # The file is sound, with whole requests only: exactly the committed lines are applied.
    checked = run("--db", str(killed), "db", "check", "--json")
    assert checked.exit_code == 0, checked
    assert strict_loads(checked.stdout)["problems"] == []
    with connection(killed) as conn:
        sessions = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        registered = conn.execute("SELECT count(*) FROM profiles WHERE id LIKE 'B%'").fetchone()
    assert registered[0] == min(done, registrations)
    assert sessions == max(0, min(done, registrations + closes) - registrations)

    # Replayed again: it resumes after the last committed line and applies the rest once.
    code, out, err = finish(refcamp(killed, "replay", str(big), "--json"))
    assert code == 0, err
    resumed = strict_loads(out)
    assert resumed["skipped"] == done
    assert resumed["applied"] == total - done
    assert resumed["failed"] == 0

    assert figures(killed) == figures(clean)
    for advocate in ("A00", "A07", "A19", "F0", "F1", "B0"):
        balances = [
            strict_loads(run("--db", str(db), "loyalty", "balance", advocate, "--json").stdout)
            for db in (clean, killed)
        ]
        assert balances[0]["programs"] == balances[1]["programs"], advocate
    assert run("--db", str(killed), "db", "check").exit_code == 0

    # And a third time: nothing left to apply.
    code, out, _ = finish(refcamp(killed, "replay", str(big), "--json"))
    assert code == 0
    again = strict_loads(out)
    assert (again["applied"], again["skipped"]) == (0, total)
    assert figures(killed) == figures(clean)


# --- a bad input changes nothing -----------------------------------------------------------------

TINY = """\
[campaign]
id = "tiny"
state = "enabled"

[campaign.referrals]
pattern = "T-#"
characters = "X"

[[rules]]
name = "A code for every new customer"
when = [{ event = "talon_profile_created" }]
then = [{ effect = "create_referral_code" }]
"""


@pytest.mark.both_engines
@pytest.mark.slow
def test_failing_commands_change_nothing(run: Run, story: Path, tmp_path: Path) -> None:
    assert run("coupon", "create", "--campaign", "spring-coupons", "--code", "GIFT",
               "--recipient", "F1").exit_code == 0  # fmt: skip
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"customerSession": {"profileId": "NEW", "state": "closed", ')
    replay = tmp_path / "replay.jsonl"
    replay.write_text('{"path": "/v2/customer_profiles/NEW", "body": {"attributes": []}}\n')
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "tiny.toml").write_text(TINY)
    assert run("--campaigns", str(tiny), "profile", "update", "T1").exit_code == 0  # takes T-X
    failing = [
        (2, ["session", "close", "NEW", "--profile", "NEW", "--referral", "CODE-1",
             "--item", "sku=a,price=abc"]),
        (2, ["session", "update", "NEW", "--payload", str(bad_json)]),
        (2, ["profile", "update", "NEW", "--attr", "x:=[1"]),
        (2, ["profile", "update", "NEW", "--payload", "-"], '{"attributes": {"x": 1e400}}'),
        (2, ["event", "track", "talon_session_closed", "--profile", "NEW"]),
        (2, ["coupon", "create", "--campaign", "spring-coupons", "--count", "0"]),
        (2, ["--now", "yesterday", "session", "close", "NEW", "--profile", "NEW"]),
        (1, ["session", "update", "S1", "--state", "open"]),
        (1, ["session", "close", "S2"]),
        (1, ["session", "cancel", "NOPE"]),
        (1, ["event", "track", "review", "--profile", "NEW", "--session", "NOPE"]),
        (1, ["event", "track", "review", "--profile", "NEW", "--session", "S1"]),
        (1, ["referral", "create", "--campaign", CAMPAIGN, "--advocate", "NEW", "--code",
             "CODE-1"]),
        (1, ["coupon", "create", "--campaign", "spring-coupons", "--code", "GIFT"]),
        (1, ["coupon", "reserve", "GIFT", "--profile", "NEW"]),
        (1, ["loyalty", "deduct", "ADV", "--program", PROGRAM, "--points", "1000000",
             "--reason", "too much"]),
        (1, ["loyalty", "add", "NEW", "--program", "nope", "--points", "5", "--reason", "x"]),
        (1, ["campaign", "activate", "nope"]),
        (1, ["--campaigns", str(tiny), "profile", "update", "T2"]),  # the code space is full
        (1, ["replay", str(replay), "--stop-on-error"]),
    ]  # fmt: skip
    before = dump(story)
    for expected, args, *stdin in failing:
        result = run(*args, input=stdin[0] if stdin else None)
        assert result.exit_code == expected, (args, result)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        after = dump(story)
        changed = sorted(set(after) ^ set(before))
        if args[0] == "replay":  # its progress is kept, by design; nothing else
            assert all(line.startswith('INSERT INTO "replays"') for line in changed), changed
            before = after
            continue
        assert after == before, (args, changed)
    assert run("db", "check").exit_code == 0
