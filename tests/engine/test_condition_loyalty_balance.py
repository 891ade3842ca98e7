"""{ loyalty_balance = "PROGRAM", op = ">=", value = N }: the current customer's active points in
a program (Facts.points, loaded by the service inside the request's transaction), less what the
request's earlier rules deducted; as Talon.One's rule builder tests a loyalty balance."""

from __future__ import annotations

import pytest
from kit import campaign, catalog, facts, failed, fired_rules, hit, mistakes, rule

from refcamp.engine import evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

AT_LEAST_100 = '{ loyalty_balance = "wallet", op = ">=", value = 100 }'


def test_the_balance_is_compared() -> None:
    rules = catalog(campaign(rule(AT_LEAST_100), wallet=True))
    assert hit(evaluate(rules, facts(points={"wallet": 100})))
    short = evaluate(rules, facts(points={"wallet": 99}))
    assert not hit(short)
    index, check = failed(short)
    assert index == 0
    assert (check.seen, check.needed) == ("wallet balance = 99", ">= 100")
    nothing = evaluate(rules, facts())  # no entry in the program: 0
    assert failed(nothing)[1].seen == "wallet balance = 0"
    anonymous = evaluate(rules, facts(anonymous=True))
    assert failed(anonymous)[1].seen == "wallet balance: no customer"


def test_op_defaults_to_at_least_and_others_compare() -> None:
    text = campaign(rule('{ loyalty_balance = "wallet", value = 10 }'), wallet=True)
    assert hit(evaluate(catalog(text), facts(points={"wallet": 10})))
    below = campaign(rule('{ loyalty_balance = "wallet", op = "<", value = 10 }'), wallet=True)
    assert hit(evaluate(catalog(below), facts(points={"wallet": 9})))


def test_it_sees_what_earlier_rules_deducted() -> None:
    deduct = '{ effect = "deduct_loyalty_points", program = "wallet", points = 80 }'
    text = campaign(rule("", deduct, name="pay"), rule(AT_LEAST_100, name="r"), wallet=True)
    evaluation = evaluate(catalog(text), facts(points={"wallet": 150}))
    assert fired_rules(evaluation) == ["pay"]
    assert failed(evaluation)[1].seen == "wallet balance = 70"


def test_words() -> None:
    rules = catalog(campaign(rule(AT_LEAST_100), wallet=True))
    condition = evaluate(rules, facts()).rules[0].conditions[0]
    assert condition.words == "the customer's wallet balance >= 100"


def test_mistakes_are_named_with_a_hint() -> None:
    unknown = campaign(rule('{ loyalty_balance = "walet", value = 1 }'), wallet=True)
    ((place, message),) = mistakes(unknown)
    assert place == "rule 1 'r': condition 1: loyalty_balance"
    assert "unknown loyalty program 'walet'" in message and "did you mean wallet" in message
    assert mistakes(campaign(rule('{ loyalty_balance = "wallet" }'), wallet=True)) == [
        ("rule 1 'r': condition 1", "missing key 'value'")
    ]
    ((place, message),) = mistakes(
        campaign(rule('{ loyalty_balance = "wallet", op = "=>", value = 1 }'), wallet=True)
    )
    assert place == "rule 1 'r': condition 1: op" and "did you mean" in message
    ((place, _),) = mistakes(
        campaign(rule('{ loyalty_balance = "wallet", value = "100" }'), wallet=True)
    )
    assert place == "rule 1 'r': condition 1: value"
    ((place, message),) = mistakes(campaign(rule('{ loyalty_balanse = "wallet", value = 1 }')))
    assert "did you mean loyalty_balance" in message
