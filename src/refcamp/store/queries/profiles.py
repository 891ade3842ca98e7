"""Customer profiles."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from refcamp.clock import iso
from refcamp.models import Profile
from refcamp.store.queries.rows import _object, _time, dumps, loader
from refcamp.store.queries.sessions import _session

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def get_profile(conn: Connection, profile_id: str) -> Profile | None:
    row = conn.execute("SELECT rowid, * FROM profiles WHERE id = ?", (profile_id,)).fetchone()
    return _profile(row) if row else None


@loader("profile", "id")
def _profile(row: sqlite3.Row) -> Profile:
    return Profile(
        row["id"],
        _object(row["attributes"]),
        _time(row["created"]),
        _time(row["updated"]),
        row["rowid"],
    )


def save_profile(conn: Connection, profile: Profile) -> None:
    conn.execute(
        "INSERT INTO profiles (id, attributes, created, updated) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes, "
        "updated = excluded.updated",
        (profile.id, dumps(dict(profile.attributes)), iso(profile.created), iso(profile.updated)),
    )


def profile_stats(conn: Connection, profile_id: str) -> tuple[int, float, str | None]:
    """(closed sessions, total sales, last activity) as Talon.One's customerProfile reports them."""
    closed = 0
    sales = 0.0
    last = None
    for row in conn.execute("SELECT rowid, * FROM sessions WHERE profile_id = ?", (profile_id,)):
        last = max(last or row["updated"], row["updated"])
        if row["state"] == "closed":
            closed += 1
            sales += _session(row).total
    return closed, sales, last
