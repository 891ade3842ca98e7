"""Referral codes, and the friends they brought."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from refcamp.clock import iso
from refcamp.models import Referral
from refcamp.store.queries.rows import EVERY_ROW, _object, _time, dumps, loader

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


@loader("referral code", "code")
def _referral(row: sqlite3.Row) -> Referral:
    return Referral(
        code=row["code"],
        campaign_id=row["campaign_id"],
        advocate_id=row["advocate_id"],
        friend_id=row["friend_id"],
        usage_limit=row["usage_limit"],
        usage_counter=row["usage_counter"],
        start_date=_time(row["start_date"]),
        expiry_date=_time(row["expiry_date"]),
        created=_time(row["created"]),
        attributes=_object(row["attributes"]),
        talon_id=row["rowid"],
    )


def get_referral(conn: Connection, code: str) -> Referral | None:
    row = conn.execute("SELECT rowid, * FROM referrals WHERE code = ?", (code,)).fetchone()
    return _referral(row) if row else None


def insert_referral(conn: Connection, referral: Referral, session_id: str | None) -> int:
    """Insert a new referral code; returns its integer id."""
    cursor = conn.execute(
        "INSERT INTO referrals (code, campaign_id, advocate_id, friend_id, usage_limit, "
        "usage_counter, start_date, expiry_date, attributes, session_id, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            referral.code,
            referral.campaign_id,
            referral.advocate_id,
            referral.friend_id,
            referral.usage_limit,
            referral.usage_counter,
            iso(referral.start_date),
            iso(referral.expiry_date),
            dumps(dict(referral.attributes)),
            session_id,
            iso(referral.created),
        ),
    )
    return cursor.lastrowid or 0


_REFERRALS = (
    # CAST: PostgreSQL must know a parameter's type when it is only tested for NULL.
    "FROM referrals WHERE (CAST(?1 AS TEXT) IS NULL OR advocate_id = ?1) "
    "AND (CAST(?2 AS TEXT) IS NULL OR campaign_id = ?2)"
)


def list_referrals(
    conn: Connection,
    advocate: str | None = None,
    campaign: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Referral]:
    """A page of referral codes, oldest first (`limit` None: all after `offset`)."""
    rows = conn.execute(
        f"SELECT rowid, * {_REFERRALS} ORDER BY created, code LIMIT ?3 OFFSET ?4",
        (advocate, campaign, EVERY_ROW if limit is None else limit, offset),
    )
    return [_referral(row) for row in rows]


def count_referrals(
    conn: Connection, advocate: str | None = None, campaign: str | None = None
) -> int:
    return int(conn.execute(f"SELECT count(*) {_REFERRALS}", (advocate, campaign)).fetchone()[0])


def referred(conn: Connection, code: str) -> list[str]:
    """The customers a referral code brought (uses rolled back do not count)."""
    rows = conn.execute(
        "SELECT profile_id FROM redemptions WHERE kind = 'referral' AND code = ? "
        "AND rolled_back IS NULL AND profile_id IS NOT NULL GROUP BY profile_id ORDER BY min(id)",
        (code,),
    )
    return [row[0] for row in rows]


def redeemed_referrals(conn: Connection, profile_id: str) -> list[tuple[Referral, int]]:
    """The referral codes a customer redeemed as a friend, with their uses by them (uses rolled
    back do not count), in the order first redeemed."""
    rows = conn.execute(
        "SELECT r.rowid, r.*, count(u.rolled_back IS NULL OR NULL) AS uses FROM referrals r "
        "JOIN redemptions u ON u.kind = 'referral' AND u.code = r.code AND u.profile_id = ? "
        "GROUP BY r.code ORDER BY min(u.id)",
        (profile_id,),
    )
    return [(_referral(row), int(row["uses"])) for row in rows]
