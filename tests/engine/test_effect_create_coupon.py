"""{ effect = "create_coupon" }: plans a couponCreated effect reserved for the current customer
(profileId). The engine leaves its value empty and hands the service the code settings to draw
one with: the campaign's [campaign.coupons] (SAVE-###### usable once by default), with the
rule's usage_limit and valid_for first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kit import NOW, campaign, catalog, facts, limits, mistakes, one, profile, rule, types

from refcamp.engine import Evaluation, evaluate
from refcamp.models import Catalog

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_closed" }'
CLOSED = ("talon_session_closed",)
CREATE = '{ effect = "create_coupon" }'


def coupons_text(then: str = CREATE, settings: str = "", extra: str = "", rules: int = 1) -> str:
    """Campaign `cpn` whose rules r1.. create a coupon when a session closes."""
    if settings:
        extra += f"\n[campaign.coupons]\n{settings}\n"
    written = [rule(WHEN, then, name=f"r{i + 1}") for i in range(rules)]
    return campaign(*written, cid="cpn", extra=extra)


def coupons(then: str = CREATE, settings: str = "", extra: str = "", rules: int = 1) -> Catalog:
    return catalog(coupons_text(then, settings, extra, rules))


def close(rules: Catalog, **fields: object) -> Evaluation:
    return evaluate(rules, facts(events=CLOSED, **fields))


def test_the_coupon_is_planned_empty_for_the_customer_with_the_default_settings() -> None:
    created = one(close(coupons(), customer=profile("ana")), "couponCreated")
    assert (created.campaign_id, created.rule_name) == ("cpn", "r1")
    assert created.props == {"value": None, "profileId": "ana"}  # the service draws the code
    assert created.params == {
        "owner": "ana",
        "pattern": "SAVE-######",
        "characters": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
        "usage_limit": 1,  # a coupon is used once unless the campaign says otherwise
        "expiry_date": None,
    }


def test_the_campaign_settings_give_pattern_characters_limit_and_expiry() -> None:
    settings = 'pattern = "GIFT-##"\ncharacters = "XYZ"\nusage_limit = 0\nvalid_for = "12h"'
    params = one(close(coupons(settings=settings)), "couponCreated").params
    assert (params["pattern"], params["characters"]) == ("GIFT-##", "XYZ")
    assert params["usage_limit"] == 0
    assert params["expiry_date"] == NOW + timedelta(hours=12)


def test_the_rule_overrides_usage_limit_and_valid_for() -> None:
    then = '{ effect = "create_coupon", usage_limit = 3, valid_for = "1Y" }'
    params = one(close(coupons(then, settings='valid_for = "7D"')), "couponCreated").params
    assert params["usage_limit"] == 3
    assert params["expiry_date"] == NOW.replace(year=NOW.year + 1)


def test_valid_for_unlimited_means_no_expiry_even_when_the_campaign_sets_one() -> None:
    then = '{ effect = "create_coupon", valid_for = "unlimited" }'
    rules = coupons(then, settings='valid_for = "7D"')
    assert one(close(rules), "couponCreated").params["expiry_date"] is None


def test_an_anonymous_session_plans_no_coupon_though_the_rule_fired() -> None:
    evaluation = close(coupons(), anonymous=True)
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired


def test_each_rule_plans_its_own_coupon() -> None:
    evaluation = close(coupons(rules=2))
    assert types(evaluation) == ["couponCreated", "couponCreated"]
    assert [e.rule_name for e in evaluation.effects] == ["r1", "r2"]


def test_a_limit_per_customer_blocks_a_further_coupon() -> None:
    rules = coupons(extra=limits(("createCoupon", 2, "profile")))
    used = {("cpn", "createCoupon", "profile", "P"): 2}
    evaluation = close(rules, usage=used)
    assert evaluation.effects == ()
    (blocked,) = evaluation.blocked
    assert (blocked.campaign_id, blocked.rule_name, blocked.effect_index) == ("cpn", "r1", 0)
    assert (blocked.effect_type, blocked.reason) == ("couponCreated", "ProfileLimitReached")
    assert blocked.details == "limit 2 createCoupon per profile: 2 used, this needs 1 more"
    assert types(close(rules, usage=used, customer=profile("Q"))) == ["couponCreated"]


def test_a_limit_per_campaign_counts_coupons_planned_in_the_same_request() -> None:
    rules = coupons(extra=limits(("createCoupon", 1, "campaign")), rules=2)
    evaluation = close(rules)
    assert [e.rule_name for e in evaluation.effects] == ["r1"]
    assert [(b.rule_name, b.reason) for b in evaluation.blocked] == [("r2", "CampaignLimitReached")]


def test_a_usage_limit_that_is_not_an_integer_is_a_problem() -> None:
    then = '{ effect = "create_coupon", usage_limit = "twice" }'
    assert mistakes(coupons_text(then)) == [
        ("rule 1 'r1': effect 1: usage_limit", "expected an integer, got a string 'twice'")
    ]


def test_a_valid_for_that_is_not_a_duration_is_a_problem() -> None:
    ((place, message),) = mistakes(coupons_text('{ effect = "create_coupon", valid_for = "7" }'))
    assert place == "rule 1 'r1': effect 1: valid_for"
    assert message.endswith(", or 'unlimited'")


def test_a_misspelt_kind_is_a_problem_that_names_the_kind_meant() -> None:
    ((place, message),) = mistakes(coupons_text('{ effect = "create_coupons" }'))
    assert place == "rule 1 'r1': effect 1: effect"
    assert message.startswith("unknown effect 'create_coupons'")
    assert "create_coupon" in message.split(";")[0]
