"""{ effect = "custom_effect", name, payload }: plans a customEffect (name, payload) passed
through to the integration, its payload as JSON values (TOML dates become ISO text). It needs
nobody and nothing: anonymous and sessionless requests get it too."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kit import campaign, catalog, facts, mistakes, one, rule, types

from refcamp.engine import Evaluation, evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_updated" }'


def custom_text(keys: str, when: str = WHEN) -> str:
    """Campaign `cus` whose rule r1 has a custom effect (`keys` the inside of its table)."""
    return campaign(rule(when, f'{{ effect = "custom_effect", {keys} }}', name="r1"), cid="cus")


def custom(keys: str, **fields: Any) -> Evaluation:
    return evaluate(catalog(custom_text(keys)), facts(**fields))


def payload(keys: str) -> Any:
    return one(custom(f'name = "confetti", payload = {keys}'), "customEffect").props["payload"]


def test_the_name_and_an_empty_payload_by_default() -> None:
    effect = one(custom('name = "confetti"'), "customEffect")
    assert (effect.campaign_id, effect.rule_name) == ("cus", "r1")
    assert effect.props == {"name": "confetti", "payload": {}}
    assert effect.params == {}


def test_the_payload_is_passed_through_nested() -> None:
    written = '{ colour = "gold", n = 3, ratio = 0.5, on = true, tags = ["a", { b = 1 }] }'
    assert payload(written) == {
        "colour": "gold",
        "n": 3,
        "ratio": 0.5,
        "on": True,
        "tags": ["a", {"b": 1}],
    }


def test_toml_dates_and_times_become_iso_text() -> None:
    written = (
        "{ at = 2026-05-01T10:00:00Z, day = 2026-05-01, local = 2026-05-01T10:00:00, "
        "time = 10:30:00, list = [2026-06-01] }"
    )
    found = payload(written)
    assert found == {
        "at": "2026-05-01T10:00:00.000Z",  # an instant, as refcamp prints every instant
        "day": "2026-05-01",
        "local": "2026-05-01T10:00:00",
        "time": "10:30:00",
        "list": ["2026-06-01"],
    }
    json.dumps(found)  # the integration gets JSON


def test_it_is_planned_for_anonymous_and_sessionless_requests() -> None:
    assert types(custom('name = "x"', anonymous=True)) == ["customEffect"]
    text = custom_text('name = "x"', when='{ event = "ping" }')
    evaluation = evaluate(catalog(text), facts(events=("ping",), sessionless=True))
    assert types(evaluation) == ["customEffect"]


def test_the_name_is_required_non_empty_text() -> None:
    assert mistakes(custom_text("payload = {}")) == [
        ("rule 1 'r1': effect 1", "missing key 'name'")
    ]
    assert mistakes(custom_text('name = " "')) == [
        ("rule 1 'r1': effect 1: name", "must not be empty")
    ]


def test_the_payload_must_be_a_table() -> None:
    ((place, message),) = mistakes(custom_text('name = "x", payload = [1, 2]'))
    assert place == "rule 1 'r1': effect 1: payload"
    assert message.startswith("expected a table")


def test_an_unknown_key_is_a_problem() -> None:
    ((place, message),) = mistakes(custom_text('name = "x", data = {}'))
    assert place == "rule 1 'r1': effect 1"
    assert message.startswith("unknown key 'data'")
