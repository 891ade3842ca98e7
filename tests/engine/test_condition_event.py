"""{ event = "NAME" }: a built-in event (talon_session_closed, ...) or a custom one holds only
for a request that raises it; a request may raise several."""

from __future__ import annotations

import pytest
from kit import attribute, campaign, catalog, facts, failed, fired_rules, hit, item, rule

from refcamp.engine import evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

CLOSED = ("talon_session_closed",)


def test_builtin_event_condition_holds_only_for_that_event() -> None:
    rules = catalog(campaign(rule('{ event = "talon_session_closed" }')))
    opened = evaluate(rules, facts(events=("talon_session_created",)))
    assert not hit(opened)
    _, check = failed(opened)
    assert (check.seen, check.needed) == ("talon_session_created", "talon_session_closed")
    assert not hit(evaluate(rules, facts(item(price=5))))  # updated
    assert hit(evaluate(rules, facts(item(price=5), events=CLOSED)))
    assert not hit(evaluate(rules, facts(events=("session_closed",), sessionless=True)))
    nothing = evaluate(rules, facts(events=()))
    assert failed(nothing)[1].seen == "no event"


def test_session_created_and_closed_in_one_request_fires_both_events() -> None:
    rules = catalog(
        campaign(
            rule('{ event = "talon_session_created" }', name="created"),
            rule('{ event = "talon_session_closed" }', name="closed"),
        )
    )
    both = evaluate(rules, facts(events=("talon_session_created", "talon_session_closed")))
    assert fired_rules(both) == ["created", "closed"]


def test_custom_event_condition() -> None:
    rules = catalog(campaign(rule('{ event = "review_posted" }')))
    assert hit(evaluate(rules, facts(events=("review_posted",), sessionless=True)))
    other = evaluate(rules, facts(events=("review_deleted",), sessionless=True))
    assert not hit(other)
    _, check = failed(other)
    assert (check.seen, check.needed) == ("review_deleted", "review_posted")
    assert not hit(evaluate(rules, facts(events=CLOSED)))
    assert not hit(evaluate(rules, facts(events=("talon_profile_updated",), sessionless=True)))


def test_custom_event_with_a_session_sees_its_cart_and_attributes() -> None:
    when = ", ".join(
        [
            '{ event = "review_posted" }',
            attribute("event.attributes.stars", ">=", "4"),
            attribute("session.total", ">", "10"),
        ]
    )
    rules = catalog(campaign(rule(when)))
    posted = ("review_posted",)
    five, three = {"stars": 5}, {"stars": 3}
    assert hit(evaluate(rules, facts(item(price=20), events=posted, event_attributes=five)))
    assert not hit(evaluate(rules, facts(item(price=5), events=posted, event_attributes=five)))
    assert not hit(evaluate(rules, facts(item(price=20), events=posted, event_attributes=three)))
    no_cart = evaluate(rules, facts(events=posted, event_attributes=five, sessionless=True))
    assert not hit(no_cart)
    assert failed(no_cart)[0] == 2
