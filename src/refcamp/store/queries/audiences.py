"""Audience members."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from refcamp.clock import iso
from refcamp.store.queries.campaigns import give_talon_id

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def audiences(conn: Connection, profile_id: str) -> frozenset[str]:
    rows = conn.execute("SELECT audience FROM audience_members WHERE profile_id = ?", (profile_id,))
    return frozenset(row[0] for row in rows)


def join_audience(conn: Connection, audience: str, profile_id: str, now: datetime) -> bool:
    """Add a member; False when it already was one. A new audience gets its integer id."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO audience_members (audience, profile_id, created) VALUES (?, ?, ?)",
        (audience, profile_id, iso(now)),
    )
    give_talon_id(conn, "audience", audience)
    return cursor.rowcount == 1


def leave_audience(conn: Connection, audience: str, profile_id: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM audience_members WHERE audience = ? AND profile_id = ?", (audience, profile_id)
    )
    return cursor.rowcount == 1
