"""Attributes of profiles and sessions: one set by an effect, all of a customer's erased."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from refcamp.clock import iso
from refcamp.store.queries.rows import dumps, loads

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def set_attribute(
    conn: Connection, owner: str, owner_id: str, name: str, value: Any, now: datetime
) -> None:
    """Set one attribute of a profile or a session, keeping the others."""
    # owner is refcamp's own constant, never user data; the name can be anything, so the JSON is
    # changed here rather than with a JSON path.
    table = {"profile": "profiles", "session": "sessions"}[owner]
    row = conn.execute(f"SELECT attributes FROM {table} WHERE id = ?", (owner_id,)).fetchone()
    if row is None:
        return
    attributes = {**json.loads(row[0]), name: value}
    conn.execute(
        f"UPDATE {table} SET attributes = ?, updated = ? WHERE id = ?",
        (dumps(attributes), iso(now), owner_id),
    )


def erase_attributes(conn: Connection, profile_id: str) -> None:
    """Empty the attributes of a profile and of everything that references it."""
    conn.execute("UPDATE profiles SET attributes = '{}' WHERE id = ?", (profile_id,))
    for table, key in (
        ("sessions", "profile_id"),
        ("events", "profile_id"),
        ("referrals", "advocate_id"),
        ("referrals", "friend_id"),
        ("coupons", "recipient_id"),
    ):
        # table and key are refcamp's own constants, never user data.
        conn.execute(f"UPDATE {table} SET attributes = '{{}}' WHERE {key} = ?", (profile_id,))
    # Events sent with only a session id belong to the session's customer too.
    conn.execute(
        "UPDATE events SET attributes = '{}' WHERE session_id IN "
        "(SELECT id FROM sessions WHERE profile_id = ?)",
        (profile_id,),
    )
    # Cart items keep their attributes inside the cart's JSON: emptied here rather than in SQL,
    # whose JSON functions differ between SQLite and PostgreSQL.
    carts = conn.execute(
        "SELECT id, cart_items FROM sessions WHERE profile_id = ? AND cart_items != '[]'",
        (profile_id,),
    ).fetchall()
    for session_id, cart in carts:
        items = [
            {**item, "attributes": {}} if isinstance(item, dict) else item for item in loads(cart)
        ]
        conn.execute("UPDATE sessions SET cart_items = ? WHERE id = ?", (dumps(items), session_id))
