"""The verdict on a session's referral code: valid for one campaign, or rejected with a reason.

Reasons are Talon.One's, checked in this order so the most fundamental one is reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from refcamp.clock import iso
from refcamp.engine.conditions import ReferralCondition, mentions
from refcamp.engine.limits import reason as limit_reason
from refcamp.engine.rejections import rejection as reject
from refcamp.engine.types import Budget, Facts, RuleResult, Verdict
from refcamp.models import Catalog, Effect

REASONS: dict[str, str] = {
    "ReferralNotFound": "no such referral code",
    "ReferralPartOfNotRunningCampaign": "the code's campaign is not running",
    "ReferralRecipientIdSameAsAdvocate": "the customer is the code's advocate",
    # Talon.One's reasons for a referral have no ProfileRequired: an anonymous session does not
    # match the code's recipient, as its CouponRecipientDoesNotMatch says of coupons.
    "ReferralRecipientDoesNotMatch": "the code was made for another friend, or the session is "
    "anonymous",
    "ReferralStartDateInFuture": "the code is not valid yet",
    "ReferralExpired": "the code has expired",
    "ReferralLimitReached": "the code has been used as often as it may be",
    "CampaignLimitReached": "the campaign's limit is reached",
    "ProfileLimitReached": "the customer's limit in this campaign is reached",
    "ReferralRejectedByCondition": "the code is valid but the rule's other conditions failed",
    "ReferralPartOfNotTriggeredCampaign": "no rule of the code's campaign checks referral codes",
}


def rejection(verdict: Verdict, catalog: Catalog, rules: Sequence[RuleResult]) -> Effect:
    """The rejectReferral effect for a code that no fired rule accepted."""
    return reject(
        catalog,
        rules,
        effect_type="rejectReferral",
        code=verdict.code,
        campaign_id=verdict.campaign_id,
        reason=verdict.reason,
        details=verdict.details or REASONS.get(verdict.reason or "", ""),
        checks=ReferralCondition,
        by_condition="ReferralRejectedByCondition",
        untriggered=(
            "ReferralPartOfNotTriggeredCampaign",
            REASONS["ReferralPartOfNotTriggeredCampaign"],
        ),
    )


def _checking_campaign(catalog: Catalog, not_running: Mapping[str, str]) -> str | None:
    """For a code that does not exist: the first running campaign that checks referral codes."""

    candidates = [
        c
        for c in sorted(catalog.campaigns, key=lambda c: (c.priority, c.id))
        if any(mentions(rule, ReferralCondition) for rule in c.rules)
    ]
    running = [c for c in candidates if c.id not in not_running]
    chosen = (running or candidates or [None])[0]
    return chosen.id if chosen else None


def verdict(
    catalog: Catalog, facts: Facts, not_running: Mapping[str, str], budget: Budget
) -> Verdict:
    """Check the session's code; the first failing check gives the reason."""
    code = facts.referral_code
    if code is None:
        return Verdict(None, None, None)
    referral = facts.referral
    campaign_id = referral.campaign_id if referral else _checking_campaign(catalog, not_running)

    def refuse(reason: str, details: str) -> Verdict:
        return Verdict(code, campaign_id, reason, details)

    if facts.profile is None:
        return refuse(
            "ReferralRecipientDoesNotMatch", "an anonymous session cannot redeem a referral code"
        )
    if referral is None:
        return refuse("ReferralNotFound", f"no referral code {code!r} exists")
    campaign = catalog.campaign(referral.campaign_id)
    if campaign is None:
        return refuse(
            "ReferralPartOfNotRunningCampaign",
            f"campaign {referral.campaign_id} is not in the campaign directory",
        )
    if campaign.id in not_running:
        return refuse("ReferralPartOfNotRunningCampaign", not_running[campaign.id])
    friend = facts.profile.id
    if friend == referral.advocate_id:
        return refuse(
            "ReferralRecipientIdSameAsAdvocate",
            f"{friend} is the advocate of {code}; a friend must redeem it",
        )
    if referral.friend_id is not None and referral.friend_id != friend:
        return refuse("ReferralRecipientDoesNotMatch", f"{code} was made for {referral.friend_id}")
    if referral.start_date is not None and facts.now < referral.start_date:
        return refuse(
            "ReferralStartDateInFuture", f"{code} is valid from {iso(referral.start_date)}"
        )
    if referral.expiry_date is not None and facts.now >= referral.expiry_date:
        return refuse("ReferralExpired", f"{code} expired at {iso(referral.expiry_date)}")
    if referral.usage_limit and referral.usage_counter >= referral.usage_limit:
        return refuse(
            "ReferralLimitReached",
            f"{code} has been used {referral.usage_counter} of {referral.usage_limit} times",
        )
    stop = budget.blocking(campaign, "redeemReferral", 1, friend, code)
    if stop is not None:
        limit, used = stop
        return refuse(limit_reason(limit), f"limit {limit.words()}: {used} used")
    return Verdict(code, campaign_id, None)
