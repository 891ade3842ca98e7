"""The ledger under attack: deductions in parallel and out of time order, and rows tampered with.

A deduction is checked inside its write transaction against every committed entry, whatever
moment each was booked for: real processes deducting at once never take the balance below zero,
and neither does a deduction booked "in the past" (`--now`) before one booked later. `db check`
finds every kind of tampering a person with `sqlite3` could do, and never crashes doing so.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import open_state
from test_concurrency import assert_clean, together

Run = Callable[..., Any]  # conftest's `run` fixture

PROGRAM = "sample-wallet"
T0 = "2026-05-01T10:00:00Z"

# A campaign that spends 10 points of the wallet on every "redeem" event.
SPENDER = """
[campaign]
id = "spender"
state = "enabled"

[[loyalty_program]]
id = "wallet"

[[rules]]
name = "Spend 10"
when = [{ event = "redeem" }]
then = [{ effect = "deduct_loyalty_points", program = "wallet", points = 10, reason = "spend" }]
"""


def current(run: Run, profile: str, program: str = PROGRAM, *options: str) -> int:
    result = run(*options, "loyalty", "balance", profile, "--program", program, "--json")
    assert result.exit_code == 0, result
    return result.json["balance"]["activePoints"]


def problems(run: Run, *options: str) -> list[str]:
    result = run(*options, "db", "check", "--json")
    assert "Traceback" not in result.stderr, result
    assert result.exit_code in (0, 1), result
    return result.json["problems"]


def add(run: Run, profile: str, points: int, now: str = T0, program: str = PROGRAM) -> None:
    result = run(
        "--now", now, "loyalty", "add", profile, "--program", program,
        "--points", str(points), "--reason", "start",
    )  # fmt: skip
    assert result.exit_code == 0, result


def deduct(run: Run, profile: str, points: int, now: str) -> Any:
    return run(
        "--now", now, "loyalty", "deduct", profile, "--program", PROGRAM,
        "--points", str(points), "--reason", "spend",
    )  # fmt: skip


# --- deductions see every committed entry --------------------------------------------------------


def test_a_deduction_booked_in_the_past_cannot_spend_what_a_later_one_spent(
    run: Run, isolated: Path
) -> None:
    add(run, "P", 100, now="2026-05-01T10:00:00Z")
    assert deduct(run, "P", 100, "2026-05-01T12:00:00Z").exit_code == 0
    earlier = deduct(run, "P", 100, "2026-05-01T11:00:00Z")
    assert earlier.exit_code == 1, earlier
    assert "cannot deduct 100" in earlier.stderr
    assert "later deduction" in earlier.stderr
    assert current(run, "P") == 0
    assert deduct(run, "P", 1, "2026-05-01T11:00:00Z").exit_code == 1
    assert problems(run) == []


def test_a_deduction_in_the_past_may_spend_what_later_deductions_leave(
    run: Run, isolated: Path
) -> None:
    add(run, "P", 100, now="2026-05-01T10:00:00Z")
    assert deduct(run, "P", 60, "2026-05-01T12:00:00Z").exit_code == 0
    refused = deduct(run, "P", 41, "2026-05-01T11:00:00Z")
    assert refused.exit_code == 1, refused
    assert "at most 40" in refused.stderr
    assert deduct(run, "P", 40, "2026-05-01T11:00:00Z").exit_code == 0
    assert current(run, "P") == 0
    assert problems(run) == []


def test_a_deduction_cannot_spend_points_a_later_rollback_takes_back(
    active: Run, isolated: Path
) -> None:
    """The friend's 50 points, rolled back at 12:00, cannot be spent at 11:00."""
    made = active(
        "--now", "2026-05-01T09:00:00Z", "profile", "update", "ADV", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made
    code = next(e for e in made.json["effects"] if e["effectType"] == "referralCreated")
    closed = active(
        "--now", "2026-05-01T10:00:00Z", "session", "close", "S1", "--profile", "FRIEND",
        "--referral", code["props"]["value"],
    )  # fmt: skip
    assert closed.exit_code == 0, closed
    assert current(active, "FRIEND") == 50
    cancelled = active("--now", "2026-05-01T12:00:00Z", "session", "cancel", "S1")
    assert cancelled.exit_code == 0, cancelled
    refused = deduct(active, "FRIEND", 50, "2026-05-01T11:00:00Z")
    assert refused.exit_code == 1, refused
    assert problems(active) == []


@pytest.mark.both_engines
@pytest.mark.slow
def test_twenty_processes_deducting_at_once_never_go_below_zero(
    run: Run, isolated: Path, tmp_path: Path
) -> None:
    db = os.environ["REFCAMP_DB"]
    add(run, "P", 100)
    results = together(
        tmp_path,
        db,
        [
            ["loyalty", "deduct", "P", "--program", PROGRAM, "--points", "10", "--reason", "r"]
            for _ in range(20)
        ],
    )
    for r in results:
        assert "Traceback" not in r.stderr, r
        assert "locked" not in r.stderr, r
    accepted = [r for r in results if r.returncode == 0]
    refused = [r for r in results if r.returncode != 0]
    assert len(accepted) == 10, results
    assert all(r.returncode == 1 and "cannot deduct 10" in r.stderr for r in refused), refused
    assert current(run, "P") == 0
    assert problems(run) == []


@pytest.mark.slow
def test_twenty_parallel_events_deducting_through_a_rule_spend_only_what_is_there(
    run: Run, isolated: Path, tmp_path: Path
) -> None:
    db = os.environ["REFCAMP_DB"]
    directory = tmp_path / "campaigns"
    directory.mkdir()
    (directory / "spender.toml").write_text(SPENDER, encoding="utf-8")
    options = ("--campaigns", str(directory))
    added = run(
        *options, "loyalty", "add", "P", "--program", "wallet", "--points", "30",
        "--reason", "start",
    )  # fmt: skip
    assert added.exit_code == 0, added
    results = together(
        tmp_path, db, [[*options, "event", "track", "redeem", "--profile", "P", "--json"]] * 20
    )
    assert_clean(results)
    deducted = [
        e
        for r in results
        for e in json.loads(r.stdout)["effects"]
        if e["effectType"] == "deductLoyaltyPoints"
    ]
    assert len(deducted) == 3, results
    # The other 17 could not deduct: their rule is left out whole, said in ruleFailureReasons.
    refused = [
        reason
        for r in results
        for reason in json.loads(r.stdout).get("ruleFailureReasons", [])
        if reason.get("effectIndex") == 0 and "could not be applied" in reason["details"]
    ]
    assert len(refused) == 17, results
    assert current(run, "P", "wallet", *options) == 0
    assert problems(run, *options) == []


# --- db check finds what was tampered with --------------------------------------------------------


def tamper(run: Run, *statements: str) -> None:
    """Edit the state as a person with `sqlite3` (or `psql`) could: the ledger's append-only
    triggers are no obstacle to someone who drops (or disables) them first."""
    where = run("db", "path", "--json").json["path"]
    if not where.startswith("postgresql://"):
        with closing(sqlite3.connect(where)) as conn, conn:
            for sql in statements:
                conn.execute(sql)
        return
    # PostgreSQL: the same edits through refcamp's connection (it passes through the SQL it does
    # not translate), in one transaction; there one turns the triggers off rather than drop them.
    with closing(open_state(where)) as conn:
        conn.execute("BEGIN")
        for sql in statements:
            conn.execute(DISABLE.get(sql, sql))
        conn.execute("COMMIT")


UNGUARD = (
    "DROP TRIGGER ledger_append_only_update",
    "DROP TRIGGER ledger_append_only_delete",
)
# What a person with psql does instead of UNGUARD's statements.
DISABLE = {
    "DROP TRIGGER ledger_append_only_update": (
        "ALTER TABLE ledger DISABLE TRIGGER ledger_append_only_update"
    ),
    "DROP TRIGGER ledger_append_only_delete": (
        "ALTER TABLE ledger DISABLE TRIGGER ledger_append_only_delete"
    ),
}


@pytest.mark.both_engines
def test_db_check_finds_a_deduction_that_overspent(run: Run, isolated: Path) -> None:
    add(run, "P", 100)
    assert deduct(run, "P", 30, T0).exit_code == 0
    tamper(run, *UNGUARD, "UPDATE ledger SET amount = 130 WHERE type = 'subtraction'")
    found = problems(run)
    assert any("P" in p and PROGRAM in p and "30 points more than" in p for p in found), found
    assert run("db", "check").exit_code == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger SET amount = 1000 WHERE type = 'subtraction'",
        "UPDATE ledger SET created = '2026-05-01T09:00:00Z', start_date = '2026-05-01T09:00:00Z' "
        "WHERE type = 'subtraction'",
    ],
    ids=["more-than-there", "before-the-points"],
)
def test_db_check_finds_a_deduction_of_points_that_were_not_there(
    run: Run, isolated: Path, sql: str
) -> None:
    add(run, "P", 100)
    assert deduct(run, "P", 100, "2026-05-01T11:00:00Z").exit_code == 0
    assert problems(run) == []
    tamper(run, *UNGUARD, sql)
    found = problems(run)
    assert any("more than the customer had" in p for p in found), found
    assert any("chain hash does not match" in p for p in found), found
    assert any("trigger is missing" in p for p in found), found


def seed(active: Run) -> str:
    """The seed story: ADV's code closed by FRIEND in S1 (100 and 50 points booked)."""
    made = active("profile", "update", "ADV", "--json")
    assert made.exit_code == 0, made
    code = next(e for e in made.json["effects"] if e["effectType"] == "referralCreated")
    closed = active(
        "session", "close", "S1", "--profile", "FRIEND", "--referral", code["props"]["value"],
        "--item", "sku=a,price=40",
    )  # fmt: skip
    assert closed.exit_code == 0, closed
    assert problems(active) == []
    return str(code["props"]["value"])


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (["UPDATE sessions SET state = 'open' WHERE id = 'S1'"], "session S1 is open but holds"),
        (
            ["UPDATE sessions SET state = 'cancelled' WHERE id = 'S1'"],
            "session S1 is cancelled but holds",
        ),
        ([*UNGUARD, "UPDATE ledger SET amount = 1 WHERE id = 1"], "chain hash does not match"),
        ([*UNGUARD, "DELETE FROM ledger WHERE id = 1"], "which is missing"),
        (UNGUARD[:1], "ledger_append_only_update trigger is missing"),
        (["UPDATE referrals SET usage_counter = 0"], "usage counter 0 but 1 redemptions"),
        (
            ["UPDATE sessions SET cart_items = '{\"sku\": \"a\"}' WHERE id = 'S1'"],
            "session 'S1' in the state file is damaged",
        ),
        (
            ['UPDATE sessions SET cart_items = \'[{"sku": "a", "quantity": "2"}]\''],
            "cart item field 'quantity' is '2'",
        ),
        (["UPDATE profiles SET created = 'garbage' WHERE id = 'ADV'"], "profile 'ADV'"),
        (["UPDATE profiles SET attributes = '[1, 2]' WHERE id = 'ADV'"], "not a JSON object"),
        (
            [*UNGUARD, "UPDATE ledger SET created = 'yesterday' WHERE id = 2"],
            "in the state file is damaged (Invalid isoformat string: 'yesterday')",
        ),
        (["UPDATE redemptions SET created = 17"], "redemptions row 1: created '17' is not a time"),
    ],
    ids=[
        "closed-back-to-open",
        "cancelled-without-rollback",
        "ledger-amount-edited",
        "ledger-row-deleted",
        "trigger-dropped",
        "referral-counter",
        "cart-not-a-list",
        "cart-item-types",
        "garbage-profile-date",
        "attributes-not-object",
        "garbage-ledger-date",
        "garbage-redemption-date",
    ],
)
def test_db_check_finds_each_kind_of_tampering_and_never_crashes(
    active: Run, isolated: Path, statements: list[str], expected: str
) -> None:
    seed(active)
    tamper(active, *statements)
    found = problems(active)
    assert any(expected in p for p in found), found
    assert not any("could not finish" in p for p in found), found
    result = active("db", "check")
    assert result.exit_code == 1, result
    assert "Traceback" not in result.stderr + result.stdout


def test_coupon_counters_and_redemptions_are_checked_like_referral_codes(
    run: Run, isolated: Path
) -> None:
    assert run("campaign", "activate", "spring-coupons").exit_code == 0
    made = run("coupon", "create", "--campaign", "spring-coupons", "--json")
    assert made.exit_code == 0, made
    code = made.json[0]["value"]
    closed = run("session", "close", "C1", "--profile", "P", "--coupon", code, "--item",
                 "sku=a,price=100")  # fmt: skip
    assert closed.exit_code == 0, closed
    assert problems(run) == []
    tamper(run, "UPDATE coupons SET usage_counter = 5")
    found = problems(run)
    assert any(f"coupon {code}: usage counter 5 but 1 redemptions" in p for p in found), found
    assert any(f"coupon {code}: usage counter 5 is above its limit 1" in p for p in found), found
    tamper(
        run,
        "UPDATE coupons SET usage_counter = 1",
        "INSERT INTO redemptions (kind, code, campaign_id, session_id, created) "
        "VALUES ('coupon', 'NOPE-NOPE', 'spring-coupons', 'C1', '2026-05-01T10:00:00Z')",
    )
    found = problems(run)
    assert found == ["redemption 2 is of an unknown coupon NOPE-NOPE"], found


def test_a_damaged_session_is_a_clear_error_not_a_traceback(active: Run, isolated: Path) -> None:
    seed(active)
    tamper(active, "UPDATE sessions SET cart_items = '{\"sku\": \"a\"}' WHERE id = 'S1'")
    shown = active("session", "show", "S1")
    assert shown.exit_code == 2, shown
    assert "session 'S1' in the state file is damaged" in shown.stderr
    assert "refcamp db check" in shown.stderr
    assert "Traceback" not in shown.stderr


@pytest.mark.both_engines
def test_an_older_state_file_gets_its_ledger_chained(
    active: Run, isolated: Path, engine: str
) -> None:
    """A state file from before the chain (schema 5) is chained when refcamp opens it."""
    seed(active)
    # The trigger is made again in each engine's own words; SQLite keeps the schema version in
    # user_version too, PostgreSQL in the migrations table only.
    if engine == "postgresql":
        drop = "DROP TRIGGER ledger_append_only_update ON ledger"
        trigger = (
            "CREATE TRIGGER ledger_append_only_update BEFORE UPDATE ON ledger FOR EACH ROW "
            "EXECUTE FUNCTION refcamp_refuse('the ledger is append-only')"
        )
        version: tuple[str, ...] = ()
    else:
        drop = "DROP TRIGGER ledger_append_only_update"
        trigger = (
            "CREATE TRIGGER ledger_append_only_update BEFORE UPDATE ON ledger "
            "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END"
        )
        version = ("PRAGMA user_version = 5",)
    tamper(
        active,
        drop,  # dropped, not disabled, on both engines
        "ALTER TABLE ledger DROP COLUMN chain",
        trigger,
        # Later migrations undone too, so that the file is as schema 5 left it.
        "ALTER TABLE replays DROP COLUMN failed",
        "DROP TABLE requests",
        "ALTER TABLE ledger DROP COLUMN item_position",
        "ALTER TABLE ledger DROP COLUMN item_sub_position",
        "ALTER TABLE discounts DROP COLUMN item_position",
        "ALTER TABLE discounts DROP COLUMN item_sub_position",
        "DROP TABLE coupon_reservations",
        "DELETE FROM migrations WHERE number >= 6",
        *version,
    )
    assert problems(active) == []
    assert current(active, "ADV") == 100


def test_a_long_running_door_keeps_no_list_of_every_customer_it_created(
    isolated: Path, campaigns_dir: Path, new_state: Callable[[str], str]
) -> None:
    """A replay or a server is one workspace for many requests: who a request created is that
    request's, forgotten at the next (else a 1M-line replay keeps a million ids in memory)."""
    from refcamp import service
    from refcamp.settings import Settings

    ws = service.Workspace(Settings(db=new_state("door.db"), campaigns=campaigns_dir))
    try:
        for i in range(3):
            ws.at(None)  # what replay, simulate and the server do before each request
            service.adjust_points(ws, f"NEW{i}", PROGRAM, 5, "welcome")
            assert ws.new_customers == [f"NEW{i}"]
    finally:
        ws.close()
