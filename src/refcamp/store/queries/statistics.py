"""Figures over the state file as a whole: rejections counted per day, the raw counts behind
`campaign stats`, and the programs the ledger names."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from refcamp.models import CampaignFigures, CodeFigures, PointFigures

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def count_rejection(
    conn: Connection, campaign_id: str, kind: str, reason: str, now: datetime
) -> None:
    conn.execute(
        "INSERT INTO rejections (campaign_id, kind, reason, day, count) VALUES (?, ?, ?, ?, 1) "
        "ON CONFLICT (campaign_id, kind, reason, day) DO UPDATE SET count = rejections.count + 1",
        (campaign_id, kind, reason, now.date().isoformat()),
    )


def campaign_figures(conn: Connection, campaign_id: str) -> CampaignFigures:
    """Raw counts behind `refcamp campaign stats`, straight from the tables."""

    def one(sql: str, *args: Any) -> Any:
        return conn.execute(sql, (campaign_id, *args)).fetchone()[0]

    by_day = conn.execute(
        "SELECT substr(created, 1, 10) AS day, sum(amount) FROM ledger WHERE campaign_id = ? "
        "AND type = 'addition' AND reverses IS NULL GROUP BY day ORDER BY day",
        (campaign_id,),
    ).fetchall()
    return CampaignFigures(
        referral_codes=one("SELECT count(*) FROM referrals WHERE campaign_id = ?"),
        coupons=one("SELECT count(*) FROM coupons WHERE campaign_id = ?"),
        referrals=_code_figures(conn, campaign_id, "referral"),
        coupon_redemptions=_code_figures(conn, campaign_id, "coupon"),
        points=_point_figures(conn, campaign_id),
        discount_given=round(
            one("SELECT coalesce(sum(value), 0) FROM discounts WHERE campaign_id = ?"), 2
        ),
        discount_rolled_back=round(
            one(
                "SELECT coalesce(sum(value), 0) FROM discounts WHERE campaign_id = ? "
                "AND rolled_back IS NOT NULL"
            ),
            2,
        ),
        acquired_customers=one(
            "SELECT count(DISTINCT profile_id) FROM redemptions WHERE campaign_id = ? "
            "AND kind = 'referral' AND rolled_back IS NULL"
        ),
        points_by_day=[(day, total) for day, total in by_day],
    )


def _code_figures(conn: Connection, campaign_id: str, kind: str) -> CodeFigures:
    accepted, rolled_back = conn.execute(
        "SELECT count(*), count(rolled_back) FROM redemptions WHERE campaign_id = ? AND kind = ?",
        (campaign_id, kind),
    ).fetchone()
    rejected = conn.execute(
        "SELECT reason, sum(count) FROM rejections WHERE campaign_id = ? AND kind = ? "
        "GROUP BY reason ORDER BY reason",
        (campaign_id, kind),
    )
    return CodeFigures(accepted, rolled_back, dict(rejected.fetchall()))


def _point_figures(conn: Connection, campaign_id: str) -> dict[str, PointFigures]:
    points = {}
    for program, issued, rolled_back, deducted, refunded in conn.execute(
        "SELECT program_id, "
        "sum(CASE WHEN type = 'addition' AND reverses IS NULL THEN amount ELSE 0 END), "
        "sum(CASE WHEN type = 'subtraction' AND reverses IS NOT NULL THEN amount ELSE 0 END), "
        "sum(CASE WHEN type = 'subtraction' AND reverses IS NULL THEN amount ELSE 0 END), "
        "sum(CASE WHEN type = 'addition' AND reverses IS NOT NULL THEN amount ELSE 0 END) "
        "FROM ledger WHERE campaign_id = ? GROUP BY program_id ORDER BY program_id",
        (campaign_id,),
    ):
        spent = deducted - refunded
        points[program] = PointFigures(issued, rolled_back, spent, issued - rolled_back - spent)
    return points


def ledger_programs(conn: Connection) -> list[str]:
    """Every loyalty program the ledger names (what `db check` checks when the campaign files
    cannot say which programs exist)."""
    return [row[0] for row in conn.execute("SELECT DISTINCT program_id FROM ledger")]
