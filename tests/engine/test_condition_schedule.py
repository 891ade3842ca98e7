"""When campaigns run: their state (the state file's, else the TOML's), their start and end, and
the order they run in (priority, then id; rules top to bottom; effects as written)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kit import campaign, catalog, facts, rule

from refcamp.engine import evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WINDOW = "start = 2026-12-01T00:00:00Z\nend = 2027-01-01T00:00:00Z"


def test_a_campaign_runs_from_its_start_until_before_its_end() -> None:
    rules = catalog(campaign(rule('{ event = "talon_session_updated" }'), cid="w", extra=WINDOW))
    for now, reason in (
        (datetime(2026, 11, 30, tzinfo=UTC), "w starts at 2026-12-01T00:00:00.000Z"),
        (datetime(2026, 12, 15, tzinfo=UTC), None),
        (datetime(2027, 1, 1, tzinfo=UTC), "w ended at 2027-01-01T00:00:00.000Z"),
    ):
        evaluation = evaluate(rules, facts(now=now))
        assert evaluation.not_running.get("w") == reason, now
        assert bool(evaluation.effects) is (reason is None)
        assert bool(evaluation.rules) is (reason is None)  # a stopped campaign checks nothing


def test_the_state_files_state_wins_over_the_tomls() -> None:
    text = campaign(rule('{ event = "talon_session_updated" }'), cid="c")
    rules = catalog(text.replace('state = "enabled"', 'state = "disabled"'))
    assert evaluate(rules, facts()).not_running == {"c": "c is disabled"}
    assert evaluate(rules, facts(campaign_states={"c": "enabled"})).effects
    archived = evaluate(catalog(text), facts(campaign_states={"c": "archived"}))
    assert archived.not_running == {"c": "c is archived"}


def test_campaigns_run_by_priority_then_id_rules_in_order_effects_in_order() -> None:
    def notes(*titles: str) -> str:
        return ", ".join(f'{{ effect = "show_notification", title = "{t}" }}' for t in titles)

    when = '{ event = "talon_session_updated" }'
    rules = catalog(
        campaign(
            rule(when, notes("b1", "b2"), "first"), rule(when, notes("b3"), "second"), cid="b"
        ),
        campaign(rule(when, notes("a")), cid="a", priority=5),
        campaign(rule(when, notes("c")), cid="c"),
    )
    evaluation = evaluate(rules, facts())
    titles = [e.props["title"] for e in evaluation.effects]
    assert titles == ["b1", "b2", "b3", "c", "a"]
    assert [(r.campaign_id, r.rule_index) for r in evaluation.rules] == [
        ("b", 0),
        ("b", 1),
        ("c", 0),
        ("a", 0),
    ]
