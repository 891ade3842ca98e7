"""{ effect = "show_notification", title = "..." }: plans a showNotification effect
(notificationType, title, body) for the integration to show. It needs nobody and nothing: it is
planned for anonymous and sessionless requests alike, and no campaign limit counts it."""

from __future__ import annotations

from typing import Any

import pytest
from kit import campaign, catalog, facts, fired_rules, mistakes, one, rule, types

from refcamp.engine import Evaluation, evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_updated" }'


def notify_text(*tables: str, when: str = WHEN) -> str:
    """Campaign `msg` whose rule r1 has these effects (each the inside of a table)."""
    then = ", ".join(f'{{ effect = "show_notification", {keys} }}' for keys in tables)
    return campaign(rule(when, then, name="r1"), cid="msg")


def notify(*tables: str, **fields: Any) -> Evaluation:
    return evaluate(catalog(notify_text(*tables)), facts(**fields))


def test_the_notification_with_its_defaults() -> None:
    effect = one(notify('title = "Hello"'), "showNotification")
    assert (effect.campaign_id, effect.rule_name) == ("msg", "r1")
    assert effect.props == {"notificationType": "info", "title": "Hello", "body": ""}
    assert effect.params == {}


def test_type_and_body_are_passed_through() -> None:
    effect = one(notify('type = "warning", title = "Low", body = "Few left é"'), "showNotification")
    assert effect.props == {"notificationType": "warning", "title": "Low", "body": "Few left é"}


def test_it_is_planned_for_anonymous_and_sessionless_requests() -> None:
    assert types(notify('title = "Hi"', anonymous=True)) == ["showNotification"]
    text = notify_text('title = "Hi"', when='{ event = "ping" }')
    evaluation = evaluate(catalog(text), facts(events=("ping",), sessionless=True))
    assert types(evaluation) == ["showNotification"]


def test_several_effects_keep_the_order_written() -> None:
    evaluation = notify('title = "one"', 'title = "two"', 'title = "three"')
    assert [e.props["title"] for e in evaluation.effects] == ["one", "two", "three"]
    assert fired_rules(evaluation) == ["r1", "r1", "r1"]


def test_nothing_when_the_rule_does_not_fire() -> None:
    assert notify('title = "Hi"', events=("talon_session_closed",)).effects == ()


def test_the_title_is_required_and_not_empty() -> None:
    assert mistakes(notify_text('body = "x"')) == [("rule 1 'r1': effect 1", "missing key 'title'")]
    assert mistakes(notify_text('title = ""')) == [
        ("rule 1 'r1': effect 1: title", "must not be empty")
    ]


def test_a_misspelt_key_is_a_problem_with_a_suggestion() -> None:
    ((place, message),) = mistakes(notify_text('title = "x", bdy = "y"'))
    assert place == "rule 1 'r1': effect 1"
    assert message.startswith("unknown key 'bdy'")
    assert "body" in message


def test_the_type_must_be_text() -> None:
    ((place, message),) = mistakes(notify_text('title = "x", type = 1'))
    assert place == "rule 1 'r1': effect 1: type"
    assert message == "expected a string, got an integer 1"
