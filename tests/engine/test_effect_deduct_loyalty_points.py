"""{ effect = "deduct_loyalty_points" }: plans a deductLoyaltyPoints effect in Talon.One's shape
for the current customer, only when the customer has the points (Facts.points, less what the
request deducted before): else none of its rule's effects apply (EffectCouldNotBeApplied). The
service checks again when it books (test_effect_kinds.py drives that through a fake port).
No campaign limit counts deductions."""

from __future__ import annotations

from typing import Any

import pytest
from kit import campaign, catalog, facts, limits, mistakes, one, profile, rule, types

from refcamp.engine import Evaluation, evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_closed" }'
CLOSED = ("talon_session_closed",)
DEDUCT = 'program = "wallet", points = 50'


def deduct_text(keys: str = DEDUCT, extra: str = "", when: str = WHEN, rules: int = 1) -> str:
    """Campaign `pts` with program `wallet`; rules r1.. deduct points when a session closes."""
    then = f'{{ effect = "deduct_loyalty_points", {keys} }}'
    written = [rule(when, then, name=f"r{i + 1}") for i in range(rules)]
    return campaign(*written, cid="pts", extra=extra, wallet=True)


def deduct(keys: str = DEDUCT, text: str | None = None, **fields: Any) -> Evaluation:
    fields.setdefault("events", CLOSED)
    fields.setdefault("points", {"wallet": 1000})
    return evaluate(catalog(text or deduct_text(keys)), facts(**fields))


def test_the_deduction_in_talon_ones_shape() -> None:
    effect = one(deduct(customer=profile("ana")), "deductLoyaltyPoints")
    assert (effect.campaign_id, effect.rule_name) == ("pts", "r1")
    assert effect.props == {
        "ruleTitle": "",
        "programId": "wallet",
        "subLedgerId": "",
        "value": 50,
        "recipientIntegrationId": "ana",
        "transactionUUID": None,  # set when the service books it
        "name": "50 points",  # the default reason
    }
    assert effect.params == {}  # the service needs nothing the props do not say


def test_the_reason_names_the_entry() -> None:
    props = one(deduct(f'{DEDUCT}, reason = "Redeem"'), "deductLoyaltyPoints").props
    assert props["name"] == "Redeem"


def test_without_the_points_none_of_the_rules_effects_apply() -> None:
    """DeductLoyaltyPointsEffectProps: "triggered whenever a validated rule contained a condition
    to only trigger when the given number of loyalty points could be deduced"."""
    then = (
        '{ effect = "show_notification", type = "info", title = "paid", body = "b" }, '
        '{ effect = "deduct_loyalty_points", program = "wallet", points = 50 }'
    )
    text = campaign(rule(WHEN, then, name="r1"), cid="pts", wallet=True)
    short = deduct(text=text, points={"wallet": 49})
    assert short.effects == ()
    [result] = short.rules
    assert not result.fired and result.failed_effect == (1, "P has 49 points in wallet, not 50")
    [blocked] = short.blocked
    assert (blocked.effect_index, blocked.reason) == (1, "EffectCouldNotBeApplied")
    assert types(deduct(text=text, points={"wallet": 50})) == [
        "showNotification",
        "deductLoyaltyPoints",
    ]


def test_a_later_deduction_sees_what_earlier_ones_took() -> None:
    evaluation = deduct(text=deduct_text(rules=3), points={"wallet": 120})
    assert [e.rule_name for e in evaluation.effects] == ["r1", "r2"]
    assert [r.fired for r in evaluation.rules] == [True, True, False]


def test_a_request_without_a_session_can_deduct() -> None:
    text = deduct_text(when='{ event = "redeem" }')
    evaluation = deduct(text=text, events=("redeem",), sessionless=True)
    assert types(evaluation) == ["deductLoyaltyPoints"]


def test_an_anonymous_session_has_nobody_to_deduct_from() -> None:
    evaluation = deduct(anonymous=True)
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired


def test_each_rule_plans_its_own_deduction() -> None:
    evaluation = deduct(text=deduct_text(rules=2))
    assert [e.rule_name for e in evaluation.effects] == ["r1", "r2"]


def test_a_points_limit_does_not_count_deductions() -> None:
    text = deduct_text(extra=limits(("addLoyaltyPoints", 10, "profile")))
    used = {("pts", "addLoyaltyPoints", "profile", "P"): 10}
    evaluation = deduct(text=text, usage=used)
    assert types(evaluation) == ["deductLoyaltyPoints"]
    assert evaluation.blocked == ()


def test_points_are_required_whole_and_positive() -> None:
    assert mistakes(deduct_text('program = "wallet"')) == [
        ("rule 1 'r1': effect 1", "missing key 'points'")
    ]
    assert mistakes(deduct_text('program = "wallet", points = 0')) == [
        ("rule 1 'r1': effect 1: points", "must be at least 1, got 0")
    ]
    ((place, message),) = mistakes(deduct_text('program = "wallet", points = 2.5'))
    assert place == "rule 1 'r1': effect 1: points"
    assert message.startswith("expected an integer")


def test_an_unknown_program_is_a_problem() -> None:
    ((place, message),) = mistakes(deduct_text('program = "points", points = 5'))
    assert place == "rule 1 'r1': effect 1: program"
    assert message.startswith("unknown loyalty program 'points'")


def test_a_deduction_has_no_recipient_key() -> None:
    ((place, message),) = mistakes(deduct_text(f'{DEDUCT}, recipient = "advocate"'))
    assert place == "rule 1 'r1': effect 1"
    assert message.startswith("unknown key 'recipient'")
