"""Campaign limits: an effect a limit stops is left out and recorded as Blocked (the rule still
fired). The engine counts what the state file counted so far (Facts.usage) plus what this
request already planned."""

from __future__ import annotations

import pytest
from kit import campaign, catalog, facts, profile, rule, types

from refcamp.engine import evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

CLOSED = ("talon_session_closed",)
POINTS = '{ effect = "add_loyalty_points", program = "wallet", points = 100 }'


def limited(*limits: tuple[str, int, str], then: str = POINTS, rules: int = 1) -> str:
    extra = "".join(
        f'\n[[campaign.limits]]\naction = "{a}"\nlimit = {n}\nper = "{per}"\n'
        for a, n, per in limits
    )
    when = '{ event = "talon_session_closed" }'
    written = [rule(when, then, name=f"r{i + 1}") for i in range(rules)]
    return campaign(*written, cid="pts", extra=extra, wallet=True)


def test_a_points_limit_per_campaign_counts_points() -> None:
    rules = catalog(limited(("addLoyaltyPoints", 250, "campaign")))
    assert types(evaluate(rules, facts(events=CLOSED))) == ["addLoyaltyPoints"]
    used = {("pts", "addLoyaltyPoints", "campaign", ""): 250}  # nothing left (some left caps)
    evaluation = evaluate(rules, facts(events=CLOSED, usage=used))
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired  # the rule fired; its effect was stopped
    (blocked,) = evaluation.blocked
    assert (blocked.campaign_id, blocked.rule_name, blocked.effect_index) == ("pts", "r1", 0)
    assert (blocked.effect_type, blocked.reason) == ("addLoyaltyPoints", "CampaignLimitReached")
    assert blocked.details == "limit 250 points per campaign: 250 used, this needs 100 more"


def test_a_points_limit_with_less_left_than_asked_caps_the_points() -> None:
    """AddLoyaltyPointsEffectProps.desiredValue: "The original amount of loyalty points to be
    awarded": `value` is what the limit had left."""
    rules = catalog(limited(("addLoyaltyPoints", 250, "campaign")))
    used = {("pts", "addLoyaltyPoints", "campaign", ""): 200}
    evaluation = evaluate(rules, facts(events=CLOSED, usage=used))
    [effect] = evaluation.effects
    assert (effect.props["value"], effect.props["desiredValue"]) == (50, 100)
    assert evaluation.blocked == ()


def test_what_a_request_planned_counts_against_its_own_later_effects() -> None:
    rules = catalog(limited(("addLoyaltyPoints", 250, "campaign"), rules=4))
    evaluation = evaluate(rules, facts(events=CLOSED))
    assert [e.rule_name for e in evaluation.effects] == ["r1", "r2", "r3"]
    assert [e.props["value"] for e in evaluation.effects] == [100, 100, 50]  # r3 capped
    assert [b.rule_name for b in evaluation.blocked] == ["r4"]
    assert evaluation.blocked[0].details.endswith("250 used, this needs 100 more")


def test_a_points_limit_per_profile_counts_each_customer_apart() -> None:
    rules = catalog(limited(("addLoyaltyPoints", 100, "profile")))
    used = {("pts", "addLoyaltyPoints", "profile", "P"): 100}
    stopped = evaluate(rules, facts(events=CLOSED, usage=used))
    assert stopped.effects == ()
    assert stopped.blocked[0].reason == "ProfileLimitReached"
    other = evaluate(rules, facts(events=CLOSED, usage=used, customer=profile("Q")))
    assert types(other) == ["addLoyaltyPoints"]
    assert other.blocked == ()
