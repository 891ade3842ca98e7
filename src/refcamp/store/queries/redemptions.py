"""Uses of referral codes and coupons: a redemption row per use, and the code's usage
counter beside it (re-derivable: accepted minus rolled back)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from refcamp.clock import iso
from refcamp.models import Effect, Redemption

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


# Statement templates filled with refcamp's own constants only (the sign), never user data.
_COUNTER = {
    "referral": "UPDATE referrals SET usage_counter = usage_counter {sign} 1 WHERE code = ?",
    "coupon": "UPDATE coupons SET usage_counter = usage_counter {sign} 1 WHERE code = ?",
}


def redeem(
    conn: Connection,
    kind: str,
    code: str,
    effect: Effect,
    session_id: str,
    profile_id: str | None,
    now: datetime,
) -> None:
    """Count one use of a code: a redemption row, and the code's usage counter."""
    conn.execute(
        "INSERT INTO redemptions (kind, code, campaign_id, session_id, profile_id, rule_index, "
        "rule_name, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            code,
            effect.campaign_id,
            session_id,
            profile_id,
            effect.rule_index,
            effect.rule_name,
            iso(now),
        ),
    )
    conn.execute(_COUNTER[kind].format(sign="+"), (code,))


def profile_redemptions(conn: Connection, kind: str, code: str, profile_id: str | None) -> int:
    """How many times a customer redeemed a code (uses rolled back do not count)."""
    row = conn.execute(
        "SELECT count(*) FROM redemptions WHERE kind = ? AND code = ? "
        "AND profile_id IS NOT DISTINCT FROM ? AND rolled_back IS NULL",
        (kind, code, profile_id),
    ).fetchone()
    return int(row[0])


def session_redemptions(conn: Connection, session_id: str) -> list[Redemption]:
    """The code uses a session booked that still stand."""
    rows = conn.execute(
        "SELECT id, kind, code, campaign_id, rule_index, rule_name FROM redemptions "
        "WHERE session_id = ? AND rolled_back IS NULL ORDER BY id",
        (session_id,),
    )
    return [Redemption(*row) for row in rows]


def roll_back_redemption(conn: Connection, use: Redemption, now: datetime) -> None:
    """Give a code's use back: mark the redemption and lower the code's counter."""
    conn.execute("UPDATE redemptions SET rolled_back = ? WHERE id = ?", (iso(now), use.id))
    conn.execute(_COUNTER[use.kind].format(sign="-"), (use.code,))
