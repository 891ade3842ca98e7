"""Verdicts on a session's coupon codes: each is valid for one campaign, or rejected with a reason.

Like referral codes, each coupon code gets exactly one verdict per request: acceptCoupon when a
fired rule of its campaign checked it (`{ coupon = "valid" }`; one coupon per campaign),
rejectCoupon otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from refcamp.clock import iso
from refcamp.engine.conditions import CouponCondition
from refcamp.engine.rejections import rejection as reject
from refcamp.engine.types import Budget, CouponVerdict, Facts, RuleResult
from refcamp.models import Catalog, Effect

LIMIT_REASONS = {
    "campaign": "CampaignLimitReached",
    "profile": "ProfileLimitReached",
    "code": "CouponLimitReached",
}


def verdicts(
    catalog: Catalog, facts: Facts, not_running: Mapping[str, str], budget: Budget
) -> dict[str, CouponVerdict]:
    session = facts.session
    result: dict[str, CouponVerdict] = {}
    for code in session.coupon_codes if session else ():
        result[code] = _verdict(catalog, facts, not_running, budget, code)
    return result


def _verdict(
    catalog: Catalog, facts: Facts, not_running: Mapping[str, str], budget: Budget, code: str
) -> CouponVerdict:
    coupon = facts.coupons.get(code)
    if coupon is None:
        return CouponVerdict(code, None, "CouponNotFound", f"no coupon code {code!r} exists")
    campaign_id = coupon.campaign_id

    def refuse(reason: str, details: str) -> CouponVerdict:
        return CouponVerdict(code, campaign_id, reason, details)

    campaign = catalog.campaign(campaign_id)
    if campaign is None:
        return refuse(
            "CouponPartOfNotRunningCampaign", f"campaign {campaign_id} is not in the directory"
        )
    if campaign.id in not_running:
        return refuse("CouponPartOfNotRunningCampaign", not_running[campaign.id])
    profile_id = facts.profile.id if facts.profile else None
    if coupon.recipient_id is not None and coupon.recipient_id != profile_id:
        return refuse(
            "CouponRecipientDoesNotMatch",
            f"{code} is reserved for {coupon.recipient_id}"
            + ("" if profile_id else "; the session has no customer"),
        )
    if coupon.start_date is not None and facts.now < coupon.start_date:
        return refuse("CouponStartDateInFuture", f"{code} is valid from {iso(coupon.start_date)}")
    if coupon.expiry_date is not None and facts.now >= coupon.expiry_date:
        return refuse("CouponExpired", f"{code} expired at {iso(coupon.expiry_date)}")
    if coupon.usage_limit and coupon.usage_counter >= coupon.usage_limit:
        return refuse(
            "CouponLimitReached",
            f"{code} has been used {coupon.usage_counter} of {coupon.usage_limit} times",
        )
    if profile_id is None and any(
        limit.per == "profile" for limit in campaign.limits_for("redeemCoupon")
    ):
        return refuse("ProfileRequired", "the campaign limits coupons per customer")
    stop = budget.blocking(campaign, "redeemCoupon", 1, profile_id, code)
    if stop is not None:
        limit, used = stop
        return refuse(LIMIT_REASONS[limit.per], f"limit {limit.words()}: {used} used")
    return CouponVerdict(code, campaign_id, None)


def rejection(
    verdict: CouponVerdict, catalog: Catalog, rules: Sequence[RuleResult], accepted: set[str]
) -> Effect:
    """The rejectCoupon effect for a code that no fired rule accepted."""

    reason, details = verdict.reason, verdict.details
    if reason is None and verdict.campaign_id in accepted:
        reason = "CouponRejectedByCondition"
        details = "another coupon of this campaign was accepted in this session"
    return reject(
        catalog,
        rules,
        effect_type="rejectCoupon",
        code=verdict.code,
        campaign_id=verdict.campaign_id,
        reason=reason,
        details=details,
        checks=CouponCondition,
        by_condition="CouponRejectedByCondition",
        untriggered=(
            "CouponRejectedByCondition",
            "no rule of the coupon's campaign checks coupon codes",
        ),
    )
