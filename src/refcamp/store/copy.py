"""Copying a whole state from one database to another (a SQLite file, a PostgreSQL database),
row for row: ids, rowids (Talon.One's integer ids of profiles, sessions and codes) and the
ledger's chain hashes stay as they were, so clients and `db check` see the same state."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from refcamp.errors import StateFileError

if TYPE_CHECKING:
    from refcamp.store.connection import Connection

# Every table of the state, in an order where each row's references are copied before it. The
# migrations table is not copied: the target records its own.
TABLES = (
    "campaigns",
    "talon_ids",
    "profiles",
    "sessions",
    "referrals",
    "coupons",
    "coupon_reservations",
    "audience_members",
    "events",
    "redemptions",
    "ledger",
    "discounts",
    "returns",
    "rejections",
    "replays",
    "requests",
)
BATCH = 1000  # rows read and written at a time, so a large state never sits in memory whole


def tables(conn: Connection) -> set[str]:
    """The state's tables (the migrations' record aside)."""
    if isinstance(conn, sqlite3.Connection):
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return {row[0] for row in conn.execute(sql)} - {"migrations"}


def is_empty(conn: Connection) -> bool:
    return not any(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in TABLES)


def copy(source: Connection, target: Connection) -> dict[str, int]:
    """Copy every row of `source` into `target` (both at the same schema version, the target
    empty, inside the target's open transaction); returns the rows copied per table."""
    unknown = tables(source) - set(TABLES)
    if unknown:
        raise StateFileError(f"the source holds tables refcamp does not know: {sorted(unknown)}")
    copied = {}
    for table in TABLES:
        # Column names come from the source's own schema, which matched refcamp's migrations.
        # rowid is added below where it is a column of its own.
        columns = [name for name in _columns(source, table) if name != "rowid"]
        keyed = "id" in columns  # there rowid is id (an alias in SQLite, generated in PostgreSQL)
        chosen = columns if keyed else ["rowid", *columns]
        listed = ", ".join(chosen)
        marks = ", ".join("?" for _ in chosen)
        insert = f"INSERT INTO {table} ({listed}) VALUES ({marks})"
        rows = source.execute(f"SELECT {listed} FROM {table} ORDER BY rowid")
        count = 0
        while batch := rows.fetchmany(BATCH):
            target.executemany(insert, [tuple(row) for row in batch])
            count += len(batch)
        copied[table] = count
    if not isinstance(target, sqlite3.Connection):
        target.after_copy(TABLES)  # type: ignore[attr-defined]
    return copied


def _columns(conn: Connection, table: str) -> list[str]:
    cursor = conn.execute(f"SELECT * FROM {table} LIMIT 0")
    if isinstance(conn, sqlite3.Connection):
        return [d[0] for d in cursor.description]
    return conn.columns(table)  # type: ignore[attr-defined,no-any-return]
