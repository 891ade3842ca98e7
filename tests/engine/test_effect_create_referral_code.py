"""{ effect = "create_referral_code" }: plans a referralCreated effect for the current customer
(the advocate). The engine leaves its value empty and hands the service the code settings to draw
one with: the campaign's [campaign.referrals], with the rule's usage_limit and valid_for first."""

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
CREATE = '{ effect = "create_referral_code" }'


def referrals(then: str = CREATE, settings: str = "", extra: str = "", rules: int = 1) -> Catalog:
    """Campaign `ref` whose rules r1.. create a code when a session closes."""
    if settings:
        extra += f"\n[campaign.referrals]\n{settings}\n"
    written = [rule(WHEN, then, name=f"r{i + 1}") for i in range(rules)]
    return catalog(campaign(*written, cid="ref", extra=extra))


def referrals_text(then: str) -> str:
    """The text of a campaign whose one rule r1 has this effect (for the loader's problems)."""
    return campaign(rule(WHEN, then, name="r1"), cid="ref")


def close(rules: Catalog, **fields: object) -> Evaluation:
    return evaluate(rules, facts(events=CLOSED, **fields))


def test_the_code_is_planned_empty_for_the_customer_with_the_default_settings() -> None:
    created = one(close(referrals()), "referralCreated")
    assert (created.campaign_id, created.rule_name) == ("ref", "r1")
    assert created.props == {"value": None}  # the service draws the code
    assert created.params == {
        "owner": "P",
        "pattern": "####-####",
        "characters": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
        "usage_limit": 0,  # unlimited redemptions
        "expiry_date": None,
    }


def test_the_campaign_settings_give_pattern_characters_limit_and_expiry() -> None:
    settings = 'pattern = "REF-###"\ncharacters = "AB"\nusage_limit = 3\nvalid_for = "30D"'
    params = one(close(referrals(settings=settings)), "referralCreated").params
    assert params["pattern"] == "REF-###"
    assert params["characters"] == "AB"
    assert params["usage_limit"] == 3
    assert params["expiry_date"] == NOW + timedelta(days=30)


def test_the_rule_overrides_usage_limit_and_valid_for() -> None:
    then = '{ effect = "create_referral_code", usage_limit = 0, valid_for = "2W" }'
    rules = referrals(then, settings='usage_limit = 5\nvalid_for = "30D"')
    params = one(close(rules), "referralCreated").params
    assert params["usage_limit"] == 0  # 0 is a value given, not "use the campaign's"
    assert params["expiry_date"] == NOW + timedelta(weeks=2)


def test_valid_for_unlimited_means_no_expiry_even_when_the_campaign_sets_one() -> None:
    then = '{ effect = "create_referral_code", valid_for = "unlimited" }'
    rules = referrals(then, settings='valid_for = "30D"')
    assert one(close(rules), "referralCreated").params["expiry_date"] is None


def test_months_keep_the_day_and_count_from_the_request_time() -> None:
    later = NOW + timedelta(days=9, hours=5)
    rules = referrals(settings='valid_for = "1M"')
    expiry = one(close(rules, now=later), "referralCreated").params["expiry_date"]
    assert expiry == later.replace(month=later.month + 1)


def test_the_owner_is_the_current_customer() -> None:
    created = one(close(referrals(), customer=profile("ana")), "referralCreated")
    assert created.params["owner"] == "ana"


def test_an_anonymous_session_plans_no_code_though_the_rule_fired() -> None:
    evaluation = close(referrals(), anonymous=True)
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired
    assert evaluation.blocked == ()


def test_a_limit_per_customer_blocks_a_second_code() -> None:
    rules = referrals(extra=limits(("createReferral", 1, "profile")))
    used = {("ref", "createReferral", "profile", "P"): 1}
    evaluation = close(rules, usage=used)
    assert evaluation.effects == ()
    (blocked,) = evaluation.blocked
    assert (blocked.effect_type, blocked.reason) == ("referralCreated", "ProfileLimitReached")
    assert blocked.details == "limit 1 createReferral per profile: 1 used, this needs 1 more"
    assert types(close(rules, usage=used, customer=profile("Q"))) == ["referralCreated"]


def test_a_limit_per_campaign_counts_codes_planned_in_the_same_request() -> None:
    rules = referrals(extra=limits(("createReferral", 2, "campaign")), rules=3)
    evaluation = close(rules)
    assert [e.rule_name for e in evaluation.effects] == ["r1", "r2"]
    assert [(b.rule_name, b.reason) for b in evaluation.blocked] == [("r3", "CampaignLimitReached")]


def test_a_negative_usage_limit_is_a_problem() -> None:
    then = '{ effect = "create_referral_code", usage_limit = -1 }'
    assert mistakes(referrals_text(then)) == [
        ("rule 1 'r1': effect 1: usage_limit", "must be at least 0, got -1")
    ]


def test_a_valid_for_that_is_not_a_duration_is_a_problem() -> None:
    ((place, message),) = mistakes(
        referrals_text('{ effect = "create_referral_code", valid_for = "forever" }')
    )
    assert place == "rule 1 'r1': effect 1: valid_for"
    assert message.endswith(", or 'unlimited'")
    assert "forever" in message


def test_an_unknown_key_is_a_problem_with_a_suggestion() -> None:
    then = '{ effect = "create_referral_code", usage_limt = 2 }'
    ((place, message),) = mistakes(referrals_text(then))
    assert place == "rule 1 'r1': effect 1"
    assert message.startswith("unknown key 'usage_limt'")
    assert "usage_limit" in message
