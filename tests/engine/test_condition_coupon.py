"""{ coupon = "valid" }: a coupon code of the session is valid for this campaign. Each code gets
one verdict per evaluation: acceptCoupon (one coupon per campaign) or rejectCoupon with
Talon.One's reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from kit import HIT, NOW, campaign, catalog, facts, failed, profile, rule, types

from refcamp.engine import Evaluation, evaluate
from refcamp.models import Coupon

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

COUPON_RULE = rule('{ coupon = "valid" }', HIT, name="redeem")
RULES = catalog(campaign(COUPON_RULE, cid="cpn"))


def coupon(code: str = "SAVE-1", **fields: Any) -> Coupon:
    """A coupon of campaign `cpn`, for anyone, usable once (fields override)."""
    values: dict[str, Any] = {
        "code": code,
        "campaign_id": "cpn",
        "recipient_id": None,
        "usage_limit": 1,
        "usage_counter": 0,
        "start_date": None,
        "expiry_date": None,
        "created": NOW,
    }
    return Coupon(**{**values, **fields})


def redeem(*known: Coupon, codes: tuple[str, ...] = ("SAVE-1",), **fields: Any) -> Evaluation:
    stored = {c.code: c for c in known}
    return evaluate(fields.pop("rules", RULES), facts(coupon_codes=codes, coupons=stored, **fields))


def test_a_valid_coupon_is_accepted_before_the_rule_effects() -> None:
    evaluation = redeem(coupon())
    assert types(evaluation) == ["acceptCoupon", "showNotification"]
    assert evaluation.effects[0].props == {"value": "SAVE-1"}
    check = evaluation.rules[0].conditions[0].check
    assert (check.seen, check.needed) == ("SAVE-1 (valid)", "a valid coupon code of this campaign")


def test_one_coupon_per_campaign_the_other_is_rejected_by_condition() -> None:
    evaluation = redeem(coupon(), coupon("SAVE-2"), codes=("SAVE-1", "SAVE-2"))
    assert types(evaluation) == ["acceptCoupon", "showNotification", "rejectCoupon"]
    rejection = evaluation.effects[2].props
    assert rejection["value"] == "SAVE-2"
    assert rejection["rejectionReason"] == "CouponRejectedByCondition"


@pytest.mark.parametrize(
    ("known", "fields", "reason", "details"),
    [
        ((), {}, "CouponNotFound", "no coupon code 'SAVE-1' exists"),
        ((coupon(campaign_id="gone"),), {}, "CouponPartOfNotRunningCampaign", "campaign gone"),
        (
            (coupon(),),
            {"campaign_states": {"cpn": "disabled"}},
            "CouponPartOfNotRunningCampaign",
            "cpn is disabled",
        ),
        (
            (coupon(recipient_id="Q"),),
            {},
            "CouponRecipientDoesNotMatch",
            "SAVE-1 is reserved for Q",
        ),
        (
            (coupon(recipient_id="Q"),),
            {"anonymous": True},
            "CouponRecipientDoesNotMatch",
            "SAVE-1 is reserved for Q; the session has no customer",
        ),
        (
            (coupon(start_date=NOW + timedelta(hours=1)),),
            {},
            "CouponStartDateInFuture",
            "SAVE-1 is valid from",
        ),
        ((coupon(expiry_date=NOW),), {}, "CouponExpired", "SAVE-1 expired at"),
        ((coupon(usage_counter=1),), {}, "CouponLimitReached", "SAVE-1 has been used 1 of 1"),
    ],
)
def test_an_invalid_coupon_is_rejected_with_its_reason(
    known: tuple[Coupon, ...], fields: dict[str, Any], reason: str, details: str
) -> None:
    evaluation = redeem(*known, **fields)
    rejections = [e for e in evaluation.effects if e.effect_type == "rejectCoupon"]
    assert types(evaluation) == ["rejectCoupon"]
    assert rejections[0].props["rejectionReason"] == reason
    assert rejections[0].props["details"].startswith(details)


def test_the_check_lists_every_code_and_its_reason() -> None:
    evaluation = redeem(coupon(expiry_date=NOW))
    assert failed(evaluation, "redeem")[1].seen == "SAVE-1: CouponExpired"
    assert failed(evaluate(RULES, facts()), "redeem")[1].seen == "no coupon code"


def test_a_per_customer_limit_needs_a_customer() -> None:
    limited = campaign(
        COUPON_RULE,
        cid="cpn",
        extra='\n[[campaign.limits]]\naction = "redeemCoupon"\nlimit = 1\nper = "profile"\n',
    )
    rules = catalog(limited)
    anonymous = redeem(coupon(), rules=rules, anonymous=True)
    assert anonymous.effects[0].props["rejectionReason"] == "ProfileRequired"
    used = {("cpn", "redeemCoupon", "profile", "P"): 1}
    spent = redeem(coupon(), rules=rules, usage=used, customer=profile("P"))
    assert spent.effects[0].props["rejectionReason"] == "ProfileLimitReached"
    assert redeem(coupon(), rules=rules).effects[0].effect_type == "acceptCoupon"
