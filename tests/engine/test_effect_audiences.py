"""{ effect = "add_to_audience" | "remove_from_audience", audience }: plan addToAudience and
removeFromAudience effects (audienceName, profileIntegrationId) for the current customer, whatever
audiences they are in already. Nothing is planned without a customer."""

from __future__ import annotations

from typing import Any

import pytest
from kit import campaign, catalog, facts, mistakes, one, profile, rule, types

from refcamp.engine import Evaluation, evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_updated" }'
KINDS = [("add_to_audience", "addToAudience"), ("remove_from_audience", "removeFromAudience")]


def audience_text(name: str, keys: str = 'audience = "vip"', when: str = WHEN) -> str:
    """Campaign `aud` whose rule r1 has the effect `name` (`keys` the inside of its table)."""
    return campaign(rule(when, f'{{ effect = "{name}", {keys} }}', name="r1"), cid="aud")


def audience(name: str, text: str | None = None, **fields: Any) -> Evaluation:
    return evaluate(catalog(text or audience_text(name)), facts(**fields))


@pytest.mark.parametrize(("name", "effect_type"), KINDS)
def test_the_effect_names_the_audience_and_the_customer(name: str, effect_type: str) -> None:
    effect = one(audience(name, customer=profile("ana")), effect_type)
    assert (effect.campaign_id, effect.rule_name) == ("aud", "r1")
    assert effect.props == {"audienceName": "vip", "profileIntegrationId": "ana"}
    assert effect.params == {}


@pytest.mark.parametrize(("name", "effect_type"), KINDS)
def test_planned_whatever_the_customer_is_in_already(name: str, effect_type: str) -> None:
    assert types(audience(name, audiences=frozenset({"vip"}))) == [effect_type]
    assert types(audience(name, audiences=frozenset())) == [effect_type]


@pytest.mark.parametrize(("name", "effect_type"), KINDS)
def test_a_request_without_a_session_can_change_audiences(name: str, effect_type: str) -> None:
    text = audience_text(name, when='{ event = "joined" }')
    evaluation = audience(name, text, events=("joined",), sessionless=True)
    assert types(evaluation) == [effect_type]


@pytest.mark.parametrize(("name", "effect_type"), KINDS)
def test_an_anonymous_session_has_nobody_to_move(name: str, effect_type: str) -> None:
    evaluation = audience(name, anonymous=True)
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired


def test_join_then_leave_in_one_rule_keeps_the_order_written() -> None:
    then = (
        '{ effect = "add_to_audience", audience = "new" }, '
        '{ effect = "remove_from_audience", audience = "old" }'
    )
    evaluation = evaluate(catalog(campaign(rule(WHEN, then))), facts())
    assert [(e.effect_type, e.props["audienceName"]) for e in evaluation.effects] == [
        ("addToAudience", "new"),
        ("removeFromAudience", "old"),
    ]


@pytest.mark.parametrize("name", [name for name, _ in KINDS])
def test_the_audience_is_required_non_empty_text(name: str) -> None:
    assert mistakes(audience_text(name, 'reason = "x"')) == [
        ("rule 1 'r1': effect 1", "missing key 'audience'"),
        ("rule 1 'r1': effect 1", "unknown key 'reason'"),
    ]
    assert mistakes(audience_text(name, 'audience = ""')) == [
        ("rule 1 'r1': effect 1: audience", "must not be empty")
    ]
    ((place, message),) = mistakes(audience_text(name, 'audience = ["vip"]'))
    assert place == "rule 1 'r1': effect 1: audience"
    assert message.startswith("expected a string")
