"""{ all = [...] }, { any = [...] } and { not = {...} }, alone and nested, with what --explain
reads of them (seen and needed)."""

from __future__ import annotations

import pytest
from kit import attribute, campaign, catalog, facts, failed, hit, item, profile, rule

from refcamp.engine import evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

BIG = attribute("session.total", ">=", "50")
GOLD = attribute("session.attributes.tier", "==", '"gold"')


def all_of(*conditions: str) -> str:
    return f"{{ all = [{', '.join(conditions)}] }}"


def any_of(*conditions: str) -> str:
    return f"{{ any = [{', '.join(conditions)}] }}"


def not_(condition: str) -> str:
    return f"{{ not = {condition} }}"


@pytest.mark.parametrize(
    ("condition", "truth"),
    [
        (all_of(BIG, GOLD), {(1, 1): True, (1, 0): False, (0, 1): False, (0, 0): False}),
        (any_of(BIG, GOLD), {(1, 1): True, (1, 0): True, (0, 1): True, (0, 0): False}),
        (not_(BIG), {(1, 1): False, (1, 0): False, (0, 1): True, (0, 0): True}),
        (not_(all_of(BIG, GOLD)), {(1, 1): False, (1, 0): True, (0, 1): True, (0, 0): True}),
        (
            any_of(all_of(BIG, not_(GOLD)), all_of(not_(BIG), GOLD)),
            {(1, 1): False, (1, 0): True, (0, 1): True, (0, 0): False},
        ),
    ],
    ids=["all", "any", "not", "not-all", "xor"],
)
def test_combinators(condition: str, truth: dict[tuple[int, int], bool]) -> None:
    rules = catalog(campaign(rule(condition)))
    for (big, gold), expected in truth.items():
        request = facts(
            item(price=60 if big else 40), attributes={"tier": "gold" if gold else "silver"}
        )
        assert hit(evaluate(rules, request)) is expected, (big, gold)


def test_nested_combinators_of_the_reference() -> None:
    blocked = attribute("profile.attributes.blocked", "==", "true")
    when = '{ event = "talon_session_closed" }, ' + any_of(
        '{ audience = "vip" }', all_of(attribute("session.total", ">", "100"), not_(blocked))
    )
    rules = catalog(campaign(rule(when)))
    closed = ("talon_session_closed",)
    vip = profile("VIP", blocked=True)
    assert hit(
        evaluate(rules, facts(item(price=5), events=closed, customer=vip, audiences={"vip"}))
    )
    assert hit(evaluate(rules, facts(item(price=101), events=closed, customer=profile("NEW"))))
    assert not hit(evaluate(rules, facts(item(price=100), events=closed)))
    refused = evaluate(
        rules, facts(item(price=500), events=closed, customer=profile("BLOCKED", blocked=True))
    )
    assert not hit(refused)
    assert failed(refused)[0] == 1
    assert not hit(evaluate(rules, facts(customer=vip, audiences={"vip"})))  # not closed


def test_seen_and_needed_of_combinators() -> None:
    rules = catalog(campaign(rule(all_of(BIG, GOLD)), rule(any_of(BIG, GOLD), name="any")))
    evaluation = evaluate(rules, facts(item(price=40), attributes={"tier": "gold"}))
    _, both = failed(evaluation)
    assert both.seen == "session.total = 40.00"  # only the failing ones
    assert both.needed == 'all of: >= 50; == "gold"'
    either = next(r for r in evaluation.rules if r.rule_name == "any")
    assert either.fired
    assert either.conditions[0].check.seen == 'session.attributes.tier = "gold"'
    negated = evaluate(catalog(campaign(rule(not_(GOLD)))), facts(attributes={"tier": "gold"}))
    _, check = failed(negated)
    assert (check.seen, check.needed) == ('session.attributes.tier = "gold"', 'not (== "gold")')
