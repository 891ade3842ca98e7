"""Invariants of a refcamp state file, checked from the rows themselves.

Each violation is one sentence; an empty list means the file is sound. Used by `refcamp db check`
and by the tests that drive random request sequences. The file may have been edited by hand in
any way, so no check trusts a row's shape: each part runs on its own, and a part that cannot
finish says so as a problem instead of crashing the others.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import groupby
from typing import TYPE_CHECKING

from refcamp.errors import StateFileError
from refcamp.loyalty import balances, overspent, standing
from refcamp.store import queries
from refcamp.store.queries.coupons import _coupon
from refcamp.store.queries.ledger_entries import _entry
from refcamp.store.queries.profiles import _profile
from refcamp.store.queries.referrals import _referral
from refcamp.store.queries.rows import _time
from refcamp.store.queries.sessions import _session

if TYPE_CHECKING:
    from refcamp.store.connection import Connection

Problems = list[str]


def check(conn: Connection, programs: Iterable[str], now: datetime) -> Problems:
    known_programs = set(programs)
    parts: list[tuple[str, Callable[[], Problems]]] = [
        ("SQLite integrity", lambda: _integrity(conn)),
        ("append-only ledger", lambda: _append_only(conn)),
        ("row shapes", lambda: _shapes(conn)),
        ("code counters", lambda: _codes(conn)),
        ("coupon reservations", lambda: _reservations(conn)),
        ("sessions", lambda: _sessions(conn)),
        ("ledger links", lambda: _ledger_links(conn, known_programs)),
        ("ledger chain", lambda: _chain(conn)),
        ("balances", lambda: _balances(conn, now)),
    ]
    problems: Problems = []
    for name, part in parts:
        try:
            problems += part()
        except Exception as error:  # a damaged file must not stop the other checks
            problems.append(f"the {name} check could not finish: {type(error).__name__}: {error}")
    return problems


def _integrity(conn: Connection) -> Problems:
    if not isinstance(conn, sqlite3.Connection):
        return _postgres_integrity(conn)
    problems = []
    result = conn.execute("PRAGMA integrity_check").fetchall()
    if [tuple(r) for r in result] != [("ok",)]:
        problems += [f"SQLite integrity check: {r[0]}" for r in result]
    for row in conn.execute("PRAGMA foreign_key_check"):
        problems.append(f"table {row[0]} row {row[1]} points to a missing {row[2]} row")
    return problems


def _postgres_integrity(conn: Connection) -> Problems:
    """PostgreSQL checks its own pages. Its foreign keys hold unless a tool wrote with them
    switched off (session_replication_role, disabled triggers), so every foreign key is checked
    row by row as SQLite's foreign_key_check does, and said in the same words."""
    problems = []
    keys = conn.execute(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, "
        "(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.conrelid "
        "AND a.attnum = c.conkey[1]), "
        "(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.confrelid "
        "AND a.attnum = c.confkey[1]) "
        "FROM pg_constraint c WHERE c.contype = 'f' "
        "AND c.connamespace = current_schema()::regnamespace ORDER BY 1, 3"
    ).fetchall()
    for child, parent, column, key in keys:
        # Names read from the schema's own catalog (refcamp's tables), never user data.
        for (rowid,) in conn.execute(
            f"SELECT rowid FROM {child} AS c WHERE c.{column} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {parent} AS p WHERE p.{key} = c.{column}) ORDER BY rowid"
        ):
            problems.append(f"table {child} row {rowid} points to a missing {parent} row")
    for (name,) in conn.execute(
        "SELECT conname FROM pg_constraint WHERE contype = 'f' AND NOT convalidated "
        "AND connamespace = current_schema()::regnamespace"
    ):
        problems.append(f"foreign key {name} is not validated: rows may point to missing rows")
    for table, name in conn.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND t.tgenabled = 'D'"
    ):
        problems.append(f"trigger {name} on table {table} is disabled")
    return problems


def _triggers(conn: Connection) -> set[str]:
    if isinstance(conn, sqlite3.Connection):
        return {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        }
    return {
        row[0]
        for row in conn.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal "
            "AND t.tgenabled != 'D'"
        )
    }


def _append_only(conn: Connection) -> Problems:
    triggers = _triggers(conn)
    return [
        f"the ledger's {name} trigger is missing: entries can be edited or deleted"
        for name in ("ledger_append_only_update", "ledger_append_only_delete")
        if name not in triggers
    ]


# Every table whose rows refcamp reads back into models, with its loader and key. The loaders
# check each row's shape (JSON of the right kind, dates that are dates, carts of cart items).
LOADED = (
    ("profiles", "id", _profile),
    ("sessions", "id", _session),
    ("referrals", "code", _referral),
    ("coupons", "code", _coupon),
    ("ledger", "transaction_uuid", _entry),
)


def _shapes(conn: Connection) -> Problems:
    problems = []
    for table, _key, load in LOADED:
        # table is a constant of this module, never user data.
        for row in conn.execute(f"SELECT rowid, * FROM {table}"):
            try:
                load(row)
            except queries.DamagedRow as error:
                problems.append(error.problem)
    for table in ("events", "redemptions", "discounts", "returns", "audience_members"):
        for row in conn.execute(f"SELECT rowid, created FROM {table}"):
            if not _is_time(row["created"]):
                problems.append(f"{table} row {row[0]}: created {row['created']!r} is not a time")
    for row in conn.execute("SELECT id, attributes FROM events WHERE attributes != '{}'"):
        if _json(row["attributes"]) is None:
            problems.append(f"event {row['id']}: attributes are not valid JSON")
    for row in conn.execute("SELECT id, effects FROM sessions WHERE effects != '[]'"):
        if _json(row["effects"]) is None:
            problems.append(f"session {row['id']}: stored effects are not valid JSON")
    for table in ("redemptions", "discounts"):
        rolled_back = f"SELECT id, rolled_back FROM {table} WHERE rolled_back IS NOT NULL"
        for row in conn.execute(rolled_back):
            if not _is_time(row["rolled_back"]):
                problems.append(f"{table} row {row['id']}: rolled_back is not a time")
    return problems


def _json(text: object) -> object:
    """The JSON value stored, or None when it is not JSON (read here, not with SQL's JSON
    functions, which SQLite and PostgreSQL spell differently)."""
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _is_time(text: object) -> bool:
    try:
        return _time(text) is not None
    except (TypeError, ValueError):
        return False


def _codes(conn: Connection) -> Problems:
    """For referral codes and coupons alike: the usage counter equals the accepted redemptions
    not rolled back and stays within the limit; every redemption is of a code that exists."""
    problems = []
    for kind, table, words in (
        ("referral", "referrals", "referral code"),
        ("coupon", "coupons", "coupon"),
    ):
        # kind and table are constants of this loop, never user data.
        for row in conn.execute(
            f"SELECT c.code, c.usage_counter, c.usage_limit, "
            f"(SELECT count(*) FROM redemptions AS d WHERE d.kind = '{kind}' AND d.code = c.code "
            f" AND d.rolled_back IS NULL) AS live FROM {table} AS c"
        ):
            if row["usage_counter"] != row["live"]:
                problems.append(
                    f"{words} {row['code']}: usage counter {row['usage_counter']} but "
                    f"{row['live']} redemptions not rolled back"
                )
            if row["usage_limit"] and row["live"] > row["usage_limit"]:
                problems.append(
                    f"{words} {row['code']}: used {row['live']} times, limit {row['usage_limit']}"
                )
            elif row["usage_limit"] and row["usage_counter"] > row["usage_limit"]:
                problems.append(
                    f"{words} {row['code']}: usage counter {row['usage_counter']} is above its "
                    f"limit {row['usage_limit']}"
                )
        for row in conn.execute(
            f"SELECT d.id, d.code FROM redemptions AS d LEFT JOIN {table} AS c ON c.code = d.code "
            f"WHERE d.kind = '{kind}' AND c.code IS NULL"
        ):
            problems.append(f"redemption {row['id']} is of an unknown {words} {row['code']}")
    return problems


def _reservations(conn: Connection) -> Problems:
    """A coupon made for a recipient (a hard reservation) is redeemed by nobody else and softly
    reserved by nobody else ("coupons created for a specific user are not reservable"); a soft
    reservation (createCouponReservation: "Any customer can use a reserved coupon code") never
    blocks a redemption, so a redemption by a customer who did not reserve it is sound."""
    problems = []
    for row in conn.execute(
        "SELECT d.id, d.code, d.profile_id, c.recipient_id FROM redemptions AS d "
        "JOIN coupons AS c ON c.code = d.code WHERE d.kind = 'coupon' AND d.rolled_back IS NULL "
        "AND c.recipient_id IS NOT NULL AND d.profile_id IS DISTINCT FROM c.recipient_id "
        "ORDER BY d.id"
    ):
        problems.append(
            f"redemption {row['id']} of coupon {row['code']} is by "
            f"{row['profile_id'] or 'an anonymous session'}, but it was made for "
            f"{row['recipient_id']}"
        )
    for row in conn.execute(
        "SELECT r.code, r.profile_id, c.recipient_id FROM coupon_reservations AS r "
        "JOIN coupons AS c ON c.code = r.code WHERE c.recipient_id IS NOT NULL "
        "AND r.profile_id != c.recipient_id ORDER BY r.code, r.profile_id"
    ):
        problems.append(
            f"coupon {row['code']} was made for {row['recipient_id']} but is reserved for "
            f"{row['profile_id']}"
        )
    return problems


def _sessions(conn: Connection) -> Problems:
    """Only closing books; cancelling rolls everything back, reopening everything but the points
    already active when it reopened (reopenCustomerSession). So a cancelled session holds no
    standing ledger entry, code use or discount, and an open one no code use, no discount and
    no standing entry but an addition that was active by its last update."""
    problems = []
    standing = (
        "SELECT DISTINCT e.session_id FROM ledger AS e WHERE e.reverses IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM ledger AS r WHERE r.reverses = e.transaction_uuid)"
    )
    booked = (
        ("ledger entries", "'cancelled'", standing),
        (
            "ledger entries",
            "'open'",
            # the session's last update is at or after its reopen: what was active then stayed
            standing + " AND (e.type != 'addition' OR e.start_date > "
            "(SELECT s.updated FROM sessions AS s WHERE s.id = e.session_id))",
        ),
        (
            "code uses",
            "'open', 'cancelled'",
            "SELECT DISTINCT session_id FROM redemptions WHERE rolled_back IS NULL",
        ),
        (
            "discounts",
            "'open', 'cancelled'",
            "SELECT DISTINCT session_id FROM discounts WHERE rolled_back IS NULL",
        ),
    )
    for what, states, holders in booked:
        for row in conn.execute(
            f"SELECT id, state FROM sessions WHERE state IN ({states}) AND id IN ({holders})"
        ):
            verb = "open" if row["state"] == "open" else "cancelled"
            problems.append(
                f"session {row['id']} is {verb} but holds {what} that only a close books "
                f"and a {'reopen' if verb == 'open' else 'cancel'} rolls back"
            )
    return problems


def _ledger_links(conn: Connection, known_programs: set[str]) -> Problems:
    """Ledger entries point to what exists; reversals mirror what they reverse, once."""
    problems = []
    for row in conn.execute(
        "SELECT transaction_uuid, session_id FROM ledger AS e WHERE session_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.id = e.session_id)"
    ):
        problems.append(
            f"ledger entry {row['transaction_uuid']} names a missing session {row['session_id']}"
        )
    # A session keeps its latest effects; each points effect names its ledger entry. So deleting
    # a customer's newest entry, which breaks no chain, is still found when a session booked it.
    booked = [
        (row["id"], uuid)
        for row in conn.execute("SELECT id, effects FROM sessions WHERE effects != '[]'")
        for uuid in _booked(_json(row["effects"]))
    ]
    for session_id, uuid in booked:
        if not conn.execute("SELECT 1 FROM ledger WHERE transaction_uuid = ?", (uuid,)).fetchone():
            problems.append(f"session {session_id} booked ledger entry {uuid}, which is missing")
    for row in conn.execute("SELECT DISTINCT program_id FROM ledger"):
        if row["program_id"] not in known_programs:
            problems.append(f"ledger entries name an unknown loyalty program {row['program_id']}")
    for row in conn.execute(
        "SELECT reverses, count(*) AS n FROM ledger WHERE reverses IS NOT NULL "
        "GROUP BY reverses HAVING count(*) > 1"
    ):
        problems.append(f"ledger entry {row['reverses']} is rolled back {row['n']} times")
    for row in conn.execute(
        "SELECT r.transaction_uuid AS uuid FROM ledger AS r JOIN ledger AS e "
        "ON e.transaction_uuid = r.reverses WHERE r.amount != e.amount "
        "OR r.profile_id != e.profile_id OR r.program_id != e.program_id OR r.type = e.type "
        "OR coalesce(r.item_position, -1) != coalesce(e.item_position, -1) "
        "OR coalesce(r.item_sub_position, -1) != coalesce(e.item_sub_position, -1)"
    ):
        problems.append(f"ledger entry {row['uuid']} does not mirror the entry it reverses")
    problems += _item_rollbacks(conn)
    return problems


def _item_rollbacks(conn: Connection) -> Problems:
    """A rollback never exceeds what its item earned: per session, cart item unit, customer and
    program, what was rolled back of the points added is at most what was added. (A unit no
    longer in the cart may still hold points: a reopen keeps active ones, whatever the edit.)"""
    problems = []
    for row in conn.execute(
        "SELECT session_id, item_position AS p, item_sub_position AS s, profile_id, program_id, "
        "sum(CASE WHEN type = 'addition' AND reverses IS NULL THEN amount ELSE 0 END) AS added, "
        "sum(CASE WHEN type = 'subtraction' AND reverses IS NOT NULL THEN amount ELSE 0 END) "
        "AS rolled FROM ledger WHERE item_position IS NOT NULL "
        "GROUP BY session_id, item_position, item_sub_position, profile_id, program_id"
    ):
        if row["rolled"] > row["added"]:
            problems.append(
                f"session {row['session_id']}: cart item {row['p']} (unit {row['s']}) earned "
                f"{row['profile_id']} {row['added']} points in {row['program_id']}, but "
                f"{row['rolled']} were rolled back"
            )
    return problems


def _booked(effects: object) -> list[str]:
    """The ledger entries a session's stored effects name (each is [campaign, ruleset, index,
    name, type, props])."""
    if not isinstance(effects, list):
        return []
    found = []
    for effect in effects:
        props = effect[5] if isinstance(effect, list) and len(effect) > 5 else None
        uuid = props.get("transactionUUID") if isinstance(props, dict) else None
        if isinstance(uuid, str) and uuid:
            found.append(uuid)
    return found


def _chain(conn: Connection) -> Problems:
    """Each entry's hash covers it and the customer's previous entry in the program: the first
    entry whose hash does not match was edited, or an entry before it was deleted."""
    problems = []
    rows = conn.execute("SELECT * FROM ledger ORDER BY profile_id, program_id, id")
    for (profile_id, program_id), chain in groupby(rows, _owner):
        previous = ""
        for row in chain:
            if row["chain"] != queries.chain_hash(previous, row):
                problems.append(
                    f"ledger entry {row['transaction_uuid']} of {profile_id} in {program_id} was "
                    "edited, or an entry before it deleted (its chain hash does not match)"
                )
                break
            previous = row["chain"]
    return problems


def _owner(row: sqlite3.Row) -> tuple[str, str]:
    return row["profile_id"], row["program_id"]


def _balances(conn: Connection, now: datetime) -> Problems:
    """Every balance adds up from its ledger, and no deduction spent points that were not
    there (negative points, owed with a current balance of 0, only where a rollback took back
    points already spent)."""
    problems = []
    for (profile_id,) in conn.execute("SELECT DISTINCT profile_id FROM ledger").fetchall():
        try:
            entries = queries.ledger(conn, profile_id)
        except StateFileError:
            continue  # the row shapes check names the damaged entry
        for program, b in balances(entries, now).items():
            mine = [e for e in entries if e.program_id == program]
            live = standing(mine, now)
            added = sum(e.amount for e in live if e.type == "addition")
            spent = sum(e.amount for e in live if e.type == "subtraction")
            held = b.current - b.negative + b.pending + b.expired
            if held != added - spent or b.spent != spent or (b.negative and b.current):
                problems.append(
                    f"balance of {profile_id} in {program} does not add up: "
                    f"{b.current}-{b.negative}+{b.pending}+{b.expired} != {added}-{spent}"
                )
            over = overspent(mine)
            if over:
                problems.append(
                    f"deductions from {profile_id} in {program} spent {over} points more than "
                    "the customer had when they were made"
                )
    return problems
