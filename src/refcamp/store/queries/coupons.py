"""Coupon codes."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from refcamp.clock import iso
from refcamp.models import Coupon
from refcamp.store.queries.rows import EVERY_ROW, _object, _time, dumps, loader

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


@loader("coupon code", "code")
def _coupon(row: sqlite3.Row) -> Coupon:
    return Coupon(
        code=row["code"],
        campaign_id=row["campaign_id"],
        recipient_id=row["recipient_id"],
        usage_limit=row["usage_limit"],
        usage_counter=row["usage_counter"],
        start_date=_time(row["start_date"]),
        expiry_date=_time(row["expiry_date"]),
        created=_time(row["created"]),
        attributes=_object(row["attributes"]),
        talon_id=row["rowid"],
    )


def get_coupon(conn: Connection, code: str) -> Coupon | None:
    row = conn.execute("SELECT rowid, * FROM coupons WHERE code = ?", (code,)).fetchone()
    return _coupon(row) if row else None


def insert_coupon(conn: Connection, coupon: Coupon, session_id: str | None) -> int:
    """Insert a new coupon; returns its integer id."""
    cursor = conn.execute(
        "INSERT INTO coupons (code, campaign_id, recipient_id, usage_limit, usage_counter, "
        "start_date, expiry_date, attributes, session_id, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            coupon.code,
            coupon.campaign_id,
            coupon.recipient_id,
            coupon.usage_limit,
            coupon.usage_counter,
            iso(coupon.start_date),
            iso(coupon.expiry_date),
            dumps(dict(coupon.attributes)),
            session_id,
            iso(coupon.created),
        ),
    )
    return cursor.lastrowid or 0


def reserve_coupon(conn: Connection, code: str, profile_id: str, now: datetime) -> bool:
    """A soft reservation of the coupon for the customer; whether it is new."""
    if reserved(conn, code, profile_id):
        return False
    conn.execute(
        "INSERT INTO coupon_reservations (code, profile_id, created) VALUES (?, ?, ?)",
        (code, profile_id, iso(now)),
    )
    return True


def reserved(conn: Connection, code: str, profile_id: str) -> bool:
    """Whether the customer holds a soft reservation of the coupon."""
    row = conn.execute(
        "SELECT 1 FROM coupon_reservations WHERE code = ? AND profile_id = ?", (code, profile_id)
    ).fetchone()
    return row is not None


def unreserve_coupon(conn: Connection, code: str, profile_id: str) -> None:
    conn.execute(
        "DELETE FROM coupon_reservations WHERE code = ? AND profile_id = ?", (code, profile_id)
    )


def reserved_for(conn: Connection, code: str) -> list[str]:
    """The customers a coupon is softly reserved for, in the order they reserved it."""
    rows = conn.execute(
        "SELECT profile_id FROM coupon_reservations WHERE code = ? ORDER BY created, rowid",
        (code,),
    )
    return [row[0] for row in rows]


def codes_by_campaign(conn: Connection) -> dict[str, int]:
    """How many referral and coupon codes each campaign has in the state file."""
    rows = conn.execute(
        "SELECT campaign_id, count(*) FROM (SELECT campaign_id FROM referrals "
        "UNION ALL SELECT campaign_id FROM coupons) AS codes GROUP BY campaign_id"
    )
    return {campaign: count for campaign, count in rows}


_COUPONS = (
    "FROM coupons WHERE (CAST(?1 AS TEXT) IS NULL OR campaign_id = ?1) "
    "AND (CAST(?2 AS TEXT) IS NULL OR recipient_id = ?2)"
)


def list_coupons(
    conn: Connection,
    campaign: str | None = None,
    recipient: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Coupon]:
    """A page of coupon codes, oldest first (`limit` None: all after `offset`)."""
    rows = conn.execute(
        f"SELECT rowid, * {_COUPONS} ORDER BY created, code LIMIT ?3 OFFSET ?4",
        (campaign, recipient, EVERY_ROW if limit is None else limit, offset),
    )
    return [_coupon(row) for row in rows]


def count_coupons(
    conn: Connection, campaign: str | None = None, recipient: str | None = None
) -> int:
    return int(conn.execute(f"SELECT count(*) {_COUPONS}", (campaign, recipient)).fetchone()[0])


def customer_coupons(conn: Connection, profile_id: str) -> list[Coupon]:
    """The coupons reserved for a customer (hard or soft) or redeemed by them."""
    rows = conn.execute(
        "SELECT rowid, * FROM coupons WHERE recipient_id = ?1 OR code IN "
        "(SELECT code FROM redemptions WHERE kind = 'coupon' AND profile_id = ?1) OR code IN "
        "(SELECT code FROM coupon_reservations WHERE profile_id = ?1) "
        "ORDER BY created, code",
        (profile_id,),
    )
    return [_coupon(row) for row in rows]
