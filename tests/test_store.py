"""The state file: migrations, schema, file checks, transactions."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from refcamp.errors import DatabaseIntegrity, StateFileError
from refcamp.store.db import connect, transaction
from refcamp.store.migrations import APPLICATION_ID, MIGRATIONS

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

TABLES = {
    "migrations",
    "requests",
    "rejections",
    "talon_ids",
    "returns",
    "replays",
    "campaigns",
    "profiles",
    "sessions",
    "referrals",
    "redemptions",
    "ledger",
    "coupons",
    "coupon_reservations",
    "audience_members",
    "events",
    "discounts",
}


def tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def test_fresh_database_gets_every_migration(tmp_path: Path) -> None:
    conn = connect(tmp_path / "new.db")
    assert tables(conn) == TABLES
    recorded = conn.execute("SELECT number, name FROM migrations ORDER BY number").fetchall()
    assert [tuple(r) for r in recorded] == [(i + 1, m.__name__) for i, m in enumerate(MIGRATIONS)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_reversals_index_holds_only_reversals_and_is_used(tmp_path: Path) -> None:
    """Migration 9: the index of `reverses` is partial (an entry that reverses nothing costs it
    no write), and what looks reversals up still searches it rather than the whole ledger."""
    conn = connect(tmp_path / "new.db")
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'ledger_reverses'").fetchone()
    assert sql.endswith("WHERE reverses IS NOT NULL")
    lookups = [
        "SELECT * FROM ledger AS e WHERE session_id = ? AND reverses IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM ledger AS r WHERE r.reverses = e.transaction_uuid)",
        "SELECT count(*) FROM ledger WHERE reverses = ?",
    ]
    for lookup in lookups:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {lookup}", ("x",)))
        assert "INDEX ledger_reverses (reverses=?)" in plan, plan


def test_reopening_applies_nothing_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = connect(path)
    with transaction(conn):
        conn.execute("INSERT INTO profiles VALUES ('P', '{}', 'x', 'x')")
    conn.close()
    again = connect(path)
    assert again.execute("SELECT count(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)
    assert again.execute("SELECT id FROM profiles").fetchone()[0] == "P"


def test_schema_is_the_same_as_a_reference_build(tmp_path: Path) -> None:
    def schema(path: Path) -> list[tuple[str, str]]:
        conn = connect(path)
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
        return [tuple(r) for r in rows]

    assert schema(tmp_path / "a.db") == schema(tmp_path / "b.db")


def test_state_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "s.db"
    connect(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_not_sqlite_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"hello, not a database")
    with pytest.raises(StateFileError, match="not a SQLite database"):
        connect(path)
    assert path.read_bytes() == b"hello, not a database"


def test_foreign_sqlite_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE notes (x)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(StateFileError, match="not refcamp's"):
        connect(path)
    assert path.read_bytes() == before


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(StateFileError, match="newer refcamp"):
        connect(path)


def test_transaction_rolls_back_on_error_and_on_dry_run(tmp_path: Path) -> None:
    conn = connect(tmp_path / "s.db")
    with pytest.raises(RuntimeError), transaction(conn):
        conn.execute("INSERT INTO profiles VALUES ('A', '{}', 'x', 'x')")
        raise RuntimeError("boom")
    with transaction(conn, commit=False):
        conn.execute("INSERT INTO profiles VALUES ('B', '{}', 'x', 'x')")
    assert conn.execute("SELECT count(*) FROM profiles").fetchone()[0] == 0


def test_ledger_is_append_only(tmp_path: Path) -> None:
    conn = connect(tmp_path / "s.db")
    with transaction(conn):
        conn.execute("INSERT INTO profiles VALUES ('P', '{}', 'x', 'x')")
        conn.execute(
            "INSERT INTO ledger (transaction_uuid, program_id, profile_id, type, amount, name, "
            "start_date, created) VALUES ('u', 'p', 'P', 'addition', 5, 'n', 'x', 'x')"
        )
    with pytest.raises(DatabaseIntegrity, match="append-only"), transaction(conn):
        conn.execute("UPDATE ledger SET amount = 6")
    with pytest.raises(DatabaseIntegrity, match="append-only"), transaction(conn):
        conn.execute("DELETE FROM ledger")
