"""The counters behind campaign limits, read inside the request's transaction."""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import TYPE_CHECKING

from refcamp.models import Campaign

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


_COUNTS = {
    # (action, per): SQL counting what is booked and not rolled back; ?1 campaign, ?2 subject.
    ("redeemReferral", "campaign"): "SELECT count(*) FROM redemptions WHERE kind = 'referral' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND ?2 = ''",
    ("redeemReferral", "profile"): "SELECT count(*) FROM redemptions WHERE kind = 'referral' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND profile_id = ?2",
    ("redeemReferral", "code"): "SELECT count(*) FROM redemptions WHERE kind = 'referral' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND code = ?2",
    ("createReferral", "campaign"): "SELECT count(*) FROM referrals WHERE campaign_id = ?1 "
    "AND ?2 = ''",
    ("createReferral", "profile"): "SELECT count(*) FROM referrals WHERE campaign_id = ?1 "
    "AND advocate_id = ?2",
    ("redeemCoupon", "campaign"): "SELECT count(*) FROM redemptions WHERE kind = 'coupon' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND ?2 = ''",
    ("redeemCoupon", "profile"): "SELECT count(*) FROM redemptions WHERE kind = 'coupon' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND profile_id = ?2",
    ("redeemCoupon", "code"): "SELECT count(*) FROM redemptions WHERE kind = 'coupon' "
    "AND campaign_id = ?1 AND rolled_back IS NULL AND code = ?2",
    ("createCoupon", "campaign"): "SELECT count(*) FROM coupons WHERE campaign_id = ?1 AND ?2 = ''",
    ("createCoupon", "profile"): "SELECT count(*) FROM coupons WHERE campaign_id = ?1 "
    "AND recipient_id = ?2",
    ("setDiscount", "campaign"): "SELECT coalesce(sum(value), 0) FROM discounts "
    "WHERE campaign_id = ?1 AND ?2 = '' AND rolled_back IS NULL",
    ("setDiscount", "profile"): "SELECT coalesce(sum(value), 0) FROM discounts "
    "WHERE campaign_id = ?1 AND profile_id = ?2 AND rolled_back IS NULL",
    ("addLoyaltyPoints", "campaign"): "SELECT coalesce(sum(amount), 0) FROM ledger AS e "
    "WHERE campaign_id = ?1 AND ?2 = '' AND type = 'addition' AND reverses IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM ledger AS r WHERE r.reverses = e.transaction_uuid)",
    ("addLoyaltyPoints", "profile"): "SELECT coalesce(sum(amount), 0) FROM ledger AS e "
    "WHERE campaign_id = ?1 AND profile_id = ?2 AND type = 'addition' AND reverses IS NULL "
    "AND NOT EXISTS (SELECT 1 FROM ledger AS r WHERE r.reverses = e.transaction_uuid)",
}


def usage(
    conn: Connection,
    campaigns: Iterable[Campaign],
    actions: Container[str],
    profile_id: str | None,
    advocate_id: str | None,
    codes: Iterable[str | None],
) -> dict[tuple[str, str, str, str], float]:
    """The counters behind the campaigns' limits on `actions`, for the customer, the advocate
    behind their referral code and the codes of one request. Only the customer redeems codes;
    what is given may go to the advocate."""
    customer = [profile_id] if profile_id is not None else []
    both = [p for p in dict.fromkeys((profile_id, advocate_id)) if p is not None]
    codes = [c for c in dict.fromkeys(codes) if c is not None]
    counters: dict[tuple[str, str, str, str], int] = {}
    for campaign in campaigns:
        for limit in campaign.limits:
            if limit.action not in actions:
                continue
            if limit.per == "campaign":
                subjects = [""]
            elif limit.per == "code":
                subjects = codes
            else:
                subjects = customer if limit.action in ("redeemReferral", "redeemCoupon") else both
            for subject in subjects:
                sql = _COUNTS[(limit.action, limit.per)]
                value = conn.execute(sql, (campaign.id, subject)).fetchone()[0]
                counters[(campaign.id, limit.action, limit.per, subject)] = value
    return counters
