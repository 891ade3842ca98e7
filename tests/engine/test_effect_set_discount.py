"""{ effect = "set_discount" }: plans a setDiscount effect (name, value, scope): a fixed amount or
a percent of the session total (scope sessionTotal) or of the cart items matching `items` (scope
cartItems), in money rounded to cents, never more than what the discounts planned before it
left to pay. A setDiscount limit counts the value; a blocked discount leaves the total to the
next one."""

from __future__ import annotations

from typing import Any

import pytest
from kit import (
    campaign,
    catalog,
    facts,
    item,
    limits,
    mistakes,
    one,
    problems,
    rule,
    types,
)

from refcamp.engine import Evaluation, evaluate
from refcamp.models import Catalog

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_updated" }'
SHOES = '{ attribute = "item.category", op = "==", value = "shoes" }'
CART = (item("s1", price=30, category="shoes"), item("h1", price=10, quantity=2, category="hats"))


def discount(keys: str) -> str:
    return f'{{ effect = "set_discount", name = "D", {keys} }}'


def discounts_text(*keys: str, cid: str = "dsc", priority: int = 0, extra: str = "") -> str:
    """Campaign `cid` with one rule r1, r2.. per discount (its keys after name = "D")."""
    written = [rule(WHEN, discount(k), name=f"r{i + 1}") for i, k in enumerate(keys)]
    return campaign(*written, cid=cid, priority=priority, extra=extra)


def update(rules: Catalog, *items: Any, **fields: Any) -> Evaluation:
    """The evaluation of P's session holding `items` (CART when none are given)."""
    return evaluate(rules, facts(*(items or CART), **fields))


def values(evaluation: Evaluation) -> list[float]:
    return [e.props["value"] for e in evaluation.effects if e.effect_type == "setDiscount"]


def test_an_amount_off_the_session_total() -> None:
    effect = one(update(catalog(discounts_text("amount = 10"))), "setDiscount")
    assert effect.props == {"name": "D", "value": 10.0, "scope": "sessionTotal"}
    assert isinstance(effect.props["value"], float)  # money is always a decimal number
    assert effect.params == {"profile": "P"}


def test_a_percent_of_the_session_total_includes_additional_costs() -> None:
    rules = catalog(discounts_text("percent = 10"))
    assert values(update(rules, costs={"shipping": 5})) == [5.5]  # 10% of 50 + 5


def test_the_value_is_rounded_to_cents() -> None:
    rules = catalog(discounts_text("percent = 10"))
    assert values(update(rules, item(price=3.33))) == [0.33]


def test_a_discount_is_never_more_than_the_total() -> None:
    assert values(update(catalog(discounts_text("amount = 80")))) == [50.0]


def test_later_discounts_take_only_what_is_left_even_in_other_campaigns() -> None:
    first = discounts_text("percent = 50", "amount = 20", cid="a", priority=0)
    later = discounts_text("amount = 10", cid="b", priority=1)
    evaluation = update(catalog(first, later))
    assert values(evaluation) == [25.0, 20.0, 5.0]
    assert [e.campaign_id for e in evaluation.effects] == ["a", "a", "b"]
    nothing_left = catalog(discounts_text("percent = 100", "amount = 1"))
    assert values(update(nothing_left)) == [50.0]  # the second plans nothing


def test_scope_items_takes_a_percent_of_the_matching_items_only() -> None:
    rules = catalog(discounts_text(f'percent = 50, scope = "items", items = [{SHOES}]'))
    effect = one(update(rules), "setDiscount")
    assert effect.props == {"name": "D", "value": 15.0, "scope": "cartItems"}


def test_scope_items_counts_quantities_and_caps_an_amount_at_the_matching_items() -> None:
    hats = '{ attribute = "item.category", op = "==", value = "hats" }'
    rules = catalog(discounts_text(f'amount = 25, scope = "items", items = [{hats}]'))
    assert values(update(rules)) == [20.0]  # two hats at 10


def test_scope_items_with_nothing_matching_plans_nothing() -> None:
    rules = catalog(discounts_text(f'percent = 50, scope = "items", items = [{SHOES}]'))
    evaluation = update(rules, item("h1", price=10, category="hats"))
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired


def test_no_discount_without_a_cart_to_pay() -> None:
    rules = catalog(discounts_text("amount = 10"))
    assert update(rules, sessionless=True).effects == ()
    assert update(rules, item(price=0)).effects == ()


def test_an_anonymous_session_gets_a_discount_with_no_profile() -> None:
    effect = one(update(catalog(discounts_text("amount = 10")), anonymous=True), "setDiscount")
    assert effect.params == {"profile": None}


def test_a_discount_limit_counts_the_value_and_a_blocked_one_leaves_the_total() -> None:
    limited = discounts_text("amount = 10", cid="a", extra=limits(("setDiscount", 20, "campaign")))
    later = discounts_text("percent = 100", cid="b", priority=1)
    used = {("a", "setDiscount", "campaign", ""): 20}
    evaluation = update(catalog(limited, later), usage=used)
    (blocked,) = evaluation.blocked
    assert (blocked.campaign_id, blocked.effect_type) == ("a", "setDiscount")
    assert blocked.reason == "CampaignLimitReached"
    assert blocked.details == "limit 20 of discount per campaign: 20 used, this needs 10 more"
    assert values(evaluation) == [50.0]  # campaign b still had the whole total


def test_a_discount_limit_with_less_left_than_asked_caps_the_discount() -> None:
    """SetDiscountEffectProps.desiredValue: "The original value of the discount"."""
    limited = discounts_text("amount = 10", cid="a", extra=limits(("setDiscount", 20, "campaign")))
    later = discounts_text("percent = 100", cid="b", priority=1)
    used = {("a", "setDiscount", "campaign", ""): 15}
    evaluation = update(catalog(limited, later), usage=used)
    assert evaluation.blocked == ()
    capped = evaluation.effects[0].props
    assert (capped["value"], capped["desiredValue"]) == (5.0, 10)
    assert values(evaluation) == [5.0, 45.0]  # campaign b has what is left to pay


def test_a_per_profile_limit_does_not_apply_to_an_anonymous_session() -> None:
    text = discounts_text("amount = 10", extra=limits(("setDiscount", 5, "profile")))
    rules = catalog(text)
    used = {("dsc", "setDiscount", "profile", "P"): 5}
    assert update(rules, usage=used).blocked[0].reason == "ProfileLimitReached"
    assert types(update(rules, anonymous=True)) == ["setDiscount"]


def test_amount_or_percent_exactly_one() -> None:
    assert mistakes(discounts_text("amount = 5, percent = 5")) == [
        ("rule 1 'r1': effect 1", "give either amount or percent")
    ]
    assert mistakes(discounts_text('scope = "session"')) == [
        ("rule 1 'r1': effect 1", "give either amount or percent")
    ]


def test_amount_and_percent_out_of_range() -> None:
    assert mistakes(discounts_text("amount = 0")) == [
        ("rule 1 'r1': effect 1: amount", "must be more than 0, got 0")
    ]
    assert mistakes(discounts_text("percent = 150")) == [
        ("rule 1 'r1': effect 1: percent", "must be more than 0 and at most 100, got 150")
    ]


def test_scope_and_items_go_together() -> None:
    assert mistakes(discounts_text('percent = 5, scope = "items"')) == [
        ("rule 1 'r1': effect 1", 'scope = "items" needs items = [item conditions]')
    ]
    assert mistakes(discounts_text(f"percent = 5, items = [{SHOES}]")) == [
        ("rule 1 'r1': effect 1: items", 'only goes with scope = "items"')
    ]


def test_a_problem_knows_its_file_and_rule() -> None:
    text = campaign(rule(WHEN, '{ effect = "set_discount", amount = 5 }', name="cheap"))
    (problem,) = problems(text)
    assert problem.file.endswith("campaign1.toml")
    assert problem.where == f"{problem.file}: rule 1 'cheap': effect 1"
    assert problem.message == "missing key 'name'"
    assert problem.parts()["rule"] == 1
    assert str(problem) == f"{problem.where}: missing key 'name'"


def test_items_are_item_conditions_and_scope_is_session_or_items() -> None:
    total = '{ attribute = "session.total", op = ">", value = 1 }'
    ((place, message),) = mistakes(
        discounts_text(f'percent = 5, scope = "items", items = [{total}]')
    )
    assert place == "rule 1 'r1': effect 1: items[1]: attribute"
    assert message.startswith("unknown path 'session.total'; one of: item.sku")
    assert mistakes(discounts_text('percent = 5, scope = "all"')) == [
        ("rule 1 'r1': effect 1: scope", "unknown value 'all'; one of: session, items")
    ]
