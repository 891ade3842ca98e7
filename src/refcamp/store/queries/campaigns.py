"""Campaigns' states as the state file holds them, and the integer ids Talon.One's models
need (`talon_ids`: given once per kind and key, kept)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from refcamp.clock import iso
from refcamp.models import Catalog

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def campaign_states(conn: Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT id, state FROM campaigns").fetchall())


def see_campaigns(conn: Connection, catalog: Catalog, now: datetime) -> None:
    """Record campaigns seen for the first time with their initial (TOML) state."""
    conn.executemany(
        "INSERT OR IGNORE INTO campaigns (id, state, updated) VALUES (?, ?, ?)",
        [(c.id, c.state, iso(now)) for c in catalog.campaigns],
    )


def set_campaign_state(conn: Connection, campaign_id: str, state: str, now: datetime) -> None:
    conn.execute(
        "INSERT INTO campaigns (id, state, updated) VALUES (?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated = excluded.updated",
        (campaign_id, state, iso(now)),
    )


def talon_ids(conn: Connection) -> dict[tuple[str, str], int]:
    """Every integer id given so far: (kind, key) -> number."""
    return {(k, key): n for k, key, n in conn.execute("SELECT kind, key, number FROM talon_ids")}


def give_talon_ids(conn: Connection, wanted: Iterable[tuple[str, str, int | None]]) -> None:
    """Give each (kind, key, number fixed in the TOML or None) its integer id: the fixed number,
    else the one the key was first given, else the kind's next number. The caller has refused
    a fixed number another key holds."""
    for kind, key, fixed in wanted:
        if fixed is None:
            give_talon_id(conn, kind, key)
        else:
            conn.execute(
                "INSERT INTO talon_ids (kind, key, number) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET number = excluded.number",
                (kind, key, fixed),
            )


def give_talon_id(conn: Connection, kind: str, key: str) -> None:
    """Give a key the kind's next number, unless it has one."""
    conn.execute(
        "INSERT OR IGNORE INTO talon_ids (kind, key, number) SELECT ?1, ?2, "
        "coalesce(max(number), 0) + 1 FROM talon_ids WHERE kind = ?1",
        (kind, key),
    )
