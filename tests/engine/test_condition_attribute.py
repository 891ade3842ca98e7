"""{ attribute = PATH, op = OP, value = V }: every operator on every value type, values of the
wrong type, missing values, and each attribute source (session, profile, event, referral),
driven through `evaluate()` with the facts built by hand."""

from __future__ import annotations

from typing import Any

import pytest
from kit import NOW, attribute, campaign, catalog, facts, failed, hit, profile, rule

from refcamp.engine import evaluate
from refcamp.models import Referral

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

MISSING = object()  # the session has no attribute k


def on_session_attribute(op: str, value: str | None, seen: Any) -> Any:
    """Evaluate one rule comparing session.attributes.k with `value` when k is `seen`."""
    rules = catalog(campaign(rule(attribute("session.attributes.k", op, value))))
    attributes = {} if seen is MISSING else {"k": seen}
    return evaluate(rules, facts(attributes=attributes))


@pytest.mark.parametrize(
    ("op", "value", "seen", "expected"),
    [
        ("==", '"gold"', "gold", True),
        ("==", '"gold"', "silver", False),
        ("==", "3", 3, True),
        ("==", "3", 3.0, True),
        ("==", "3", 4, False),
        ("==", "true", True, True),
        ("==", "true", False, False),
        ("!=", '"gold"', "silver", True),
        ("!=", '"gold"', "gold", False),
        ("<", "10", 9.5, True),
        ("<", "10", 10, False),
        ("<=", "10", 10, True),
        ("<=", "10", 10.01, False),
        (">", "10", 11, True),
        (">", "10", 10, False),
        (">", "-1.5", -1, True),
        (">=", "10", 10, True),
        (">=", "10", 9, False),
        ("in", '["gold", "platinum"]', "platinum", True),
        ("in", '["gold", "platinum"]', "silver", False),
        ("in", "[1, 2]", 2, True),
        ("not_in", '["gold", "platinum"]', "silver", True),
        ("not_in", '["gold", "platinum"]', "gold", False),
        ("contains", '"world"', "hello world", True),
        ("contains", '"moon"', "hello world", False),
        ("contains", '"a"', ["a", "b"], True),
        ("contains", '"c"', ["a", "b"], False),
        ("contains", "2", [1, 2], True),
        ("starts_with", '"app"', "app-ios", True),
        ("starts_with", '"app"', "web-app", False),
        ("exists", None, "x", True),
        ("exists", "true", False, True),
        ("exists", None, MISSING, False),
        ("exists", "false", MISSING, True),
        ("exists", "false", "x", False),
    ],
)
def test_operators_on_a_session_attribute(
    op: str, value: str | None, seen: Any, expected: bool
) -> None:
    assert hit(on_session_attribute(op, value, seen)) is expected


@pytest.mark.parametrize(
    ("op", "value", "seen"),
    [
        (">", "10", "abc"),
        ("<", "10", True),  # a boolean is not a number
        (">=", "1", [5]),
        ("==", '"10"', 10),
        ("in", '["1", "2"]', 1),
        ("contains", '"a"', 5),
        ("contains", '"a"', {"a": 1}),
        ("starts_with", '"5"', 55),
    ],
)
def test_a_value_of_the_wrong_type_makes_the_comparison_false(
    op: str, value: str, seen: Any
) -> None:
    evaluation = on_session_attribute(op, value, seen)
    assert not hit(evaluation)
    assert [r.rule_name for r in evaluation.rules if not r.fired] == ["r"]


@pytest.mark.parametrize(
    ("op", "value", "seen"),
    [
        pytest.param("==", "1", True, id="true==1"),
        pytest.param("==", "true", 1, id="1==true"),
        pytest.param("in", "[0, 1]", False, id="false-in-[0,1]"),
    ],
)
def test_a_boolean_attribute_never_equals_a_number(op: str, value: str, seen: Any) -> None:
    assert not hit(on_session_attribute(op, value, seen))


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("==", '"x"'),
        ("!=", '"x"'),
        ("<", "1"),
        ("<=", "1"),
        (">", "1"),
        (">=", "1"),
        ("in", '["x"]'),
        ("not_in", '["x"]'),
        ("contains", '"x"'),
        ("starts_with", '"x"'),
        ("exists", None),
    ],
)
@pytest.mark.parametrize(
    "path",
    ["session.attributes.k", "profile.attributes.k", "event.attributes.k", "referral.attributes.k"],
)
def test_a_missing_attribute_makes_every_comparison_false(
    path: str, op: str, value: str | None
) -> None:
    rules = catalog(campaign(rule(attribute(path, op, value))))
    evaluation = evaluate(rules, facts(attributes={"other": 1}))
    assert not hit(evaluation)
    index, check = failed(evaluation)
    assert index == 0
    assert check.seen == f"{path} = missing"


def test_seen_and_needed_name_the_path_and_show_the_values() -> None:
    rules = catalog(campaign(rule(attribute("session.attributes.tier", "in", '["gold", "vip"]'))))
    _, check = failed(evaluate(rules, facts(attributes={"tier": "silver"})))
    assert (check.seen, check.needed) == (
        'session.attributes.tier = "silver"',
        'in ["gold", "vip"]',
    )
    rules = catalog(campaign(rule(attribute("session.attributes.k", "exists", "false"))))
    _, check = failed(evaluate(rules, facts(attributes={"k": 1})))
    assert (check.seen, check.needed) == ("session.attributes.k = 1", "absent")


def test_profile_attribute_condition() -> None:
    rules = catalog(
        campaign(rule(attribute("profile.attributes.tier", "in", '["gold", "platinum"]')))
    )
    assert hit(evaluate(rules, facts(customer=profile("GOLD", tier="gold"))))
    silver = evaluate(rules, facts(customer=profile("SILVER", tier="silver")))
    assert not hit(silver)
    assert failed(silver)[1].seen == 'profile.attributes.tier = "silver"'
    assert not hit(evaluate(rules, facts(customer=profile("NEWBIE"))))
    assert not hit(evaluate(rules, facts(anonymous=True)))


def test_event_attribute_condition() -> None:
    rules = catalog(campaign(rule(attribute("event.attributes.amount", ">", "100"))))
    purchase = ("purchase",)
    assert hit(evaluate(rules, facts(events=purchase, event_attributes={"amount": 120.5})))
    low = evaluate(rules, facts(events=purchase, event_attributes={"amount": 80}))
    assert not hit(low)
    assert failed(low)[1].seen == "event.attributes.amount = 80"
    # A session request has no event attributes, whatever its session's attributes are.
    assert not hit(evaluate(rules, facts(attributes={"amount": 500})))


def test_referral_attributes_are_those_of_the_code_behind_the_session() -> None:
    rules = catalog(
        campaign(
            rule(attribute("referral.attributes.source", "==", '"blog"'), name="equals"),
            rule(attribute("referral.attributes.source", "exists", "false"), name="absent"),
        )
    )
    code = Referral("FRIEND-1", "rl", "ADV", None, 0, 0, None, None, NOW, {"source": "blog"})
    with_code = evaluate(rules, facts(referral_code="FRIEND-1", referral=code))
    assert [r.rule_name for r in with_code.rules if r.fired] == ["equals"]
    plain = Referral("FRIEND-2", "rl", "ADV", None, 0, 0, None, None, NOW)
    without = evaluate(rules, facts(referral_code="FRIEND-2", referral=plain))
    assert [r.rule_name for r in without.rules if r.fired] == ["absent"]
    assert failed(without, "equals")[1].seen == "referral.attributes.source = missing"
    assert [r.rule_name for r in evaluate(rules, facts()).rules if r.fired] == ["absent"]
