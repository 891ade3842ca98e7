"""Invariants of a refcamp state file, checked from the rows themselves.

Each violation is one sentence; an empty list means the file is sound. Used by `refcamp db check`
and by the tests that drive random request sequences.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime

from refcamp.loyalty import balances, standing
from refcamp.store.queries import ledger


def check(conn: sqlite3.Connection, programs: Iterable[str], now: datetime) -> list[str]:
    problems: list[str] = []
    known_programs = set(programs)

    result = conn.execute("PRAGMA integrity_check").fetchall()
    if [tuple(r) for r in result] != [("ok",)]:
        problems += [f"SQLite integrity check: {r[0]}" for r in result]
    for row in conn.execute("PRAGMA foreign_key_check"):
        problems.append(f"table {row[0]} row {row[1]} points to a missing {row[2]} row")

    # Stored JSON is JSON (refcamp writes it so; anything else was edited by hand).
    for table, key in (
        ("profiles", "id"),
        ("sessions", "id"),
        ("referrals", "code"),
        ("coupons", "code"),
        ("events", "id"),
    ):
        # table and key are constants of this module, never user data.
        for row in conn.execute(f"SELECT {key} FROM {table} WHERE NOT json_valid(attributes)"):
            problems.append(f"{table} {row[0]}: attributes are not valid JSON")
    for row in conn.execute(
        "SELECT id FROM sessions WHERE NOT (json_valid(cart_items) AND json_valid(coupon_codes) "
        "AND json_valid(additional_costs) AND json_valid(identifiers))"
    ):
        problems.append(f"session {row[0]}: stored cart or codes are not valid JSON")

    # Codes: the counter equals accepted minus rolled-back redemptions, within the limit.
    for row in conn.execute(
        "SELECT r.code, r.usage_counter, r.usage_limit, "
        "(SELECT count(*) FROM redemptions AS d WHERE d.kind = 'referral' AND d.code = r.code "
        " AND d.rolled_back IS NULL) AS live FROM referrals AS r"
    ):
        if row["usage_counter"] != row["live"]:
            problems.append(
                f"referral code {row['code']}: usage counter {row['usage_counter']} but "
                f"{row['live']} redemptions not rolled back"
            )
        if row["usage_limit"] and row["usage_counter"] > row["usage_limit"]:
            problems.append(
                f"referral code {row['code']}: used {row['usage_counter']} times, "
                f"limit {row['usage_limit']}"
            )
    for row in conn.execute(
        "SELECT d.id, d.code FROM redemptions AS d LEFT JOIN referrals AS r ON r.code = d.code "
        "WHERE d.kind = 'referral' AND r.code IS NULL"
    ):
        problems.append(f"redemption {row['id']} is of an unknown referral code {row['code']}")

    # Ledger entries point to what exists; reversals mirror what they reverse, once.
    for row in conn.execute(
        "SELECT transaction_uuid, session_id FROM ledger AS e WHERE session_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.id = e.session_id)"
    ):
        problems.append(
            f"ledger entry {row['transaction_uuid']} names a missing session {row['session_id']}"
        )
    for row in conn.execute("SELECT DISTINCT program_id FROM ledger"):
        if row["program_id"] not in known_programs:
            problems.append(f"ledger entries name an unknown loyalty program {row['program_id']}")
    for row in conn.execute(
        "SELECT reverses, count(*) AS n FROM ledger WHERE reverses IS NOT NULL "
        "GROUP BY reverses HAVING n > 1"
    ):
        problems.append(f"ledger entry {row['reverses']} is rolled back {row['n']} times")
    for row in conn.execute(
        "SELECT r.transaction_uuid AS uuid FROM ledger AS r JOIN ledger AS e "
        "ON e.transaction_uuid = r.reverses WHERE r.amount != e.amount "
        "OR r.profile_id != e.profile_id OR r.program_id != e.program_id OR r.type = e.type"
    ):
        problems.append(f"ledger entry {row['uuid']} does not mirror the entry it reverses")

    # Balances: what is left of live additions, minus what spending could not cover.
    for (profile_id,) in conn.execute("SELECT DISTINCT profile_id FROM ledger").fetchall():
        entries = ledger(conn, profile_id)
        for program, b in balances(entries, now).items():
            live = standing((e for e in entries if e.program_id == program), now)
            added = sum(e.amount for e in live if e.type == "addition")
            spent = sum(e.amount for e in live if e.type == "subtraction")
            if b.current + b.pending + b.expired != added - spent or b.spent != spent:
                problems.append(
                    f"balance of {profile_id} in {program} does not add up: "
                    f"{b.current}+{b.pending}+{b.expired} != {added}-{spent}"
                )
    return problems
