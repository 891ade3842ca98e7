"""{ effect = "update_attribute", path, value }: plans an updateAttribute effect (path, value)
and tells the service whose attribute to set (owner profile or session, its id, the name). Nothing
is planned when the owner is missing (no customer, no session)."""

from __future__ import annotations

from typing import Any

import pytest
from kit import campaign, catalog, facts, mistakes, one, profile, rule

from refcamp.engine import Evaluation, evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_updated" }'


def update_text(keys: str, when: str = WHEN) -> str:
    """Campaign `att` whose rule r1 updates an attribute (`keys` the inside of its table)."""
    return campaign(rule(when, f'{{ effect = "update_attribute", {keys} }}', name="r1"), cid="att")


def update(keys: str, text: str | None = None, **fields: Any) -> Evaluation:
    return evaluate(catalog(text or update_text(keys)), facts(**fields))


def test_a_profile_attribute_of_the_current_customer() -> None:
    effect = one(
        update('path = "profile.attributes.tier", value = "gold"', customer=profile("ana")),
        "updateAttribute",
    )
    assert effect.props == {"path": "profile.attributes.tier", "value": "gold"}
    assert effect.params == {"owner": "profile", "owner_id": "ana", "name": "tier"}


def test_a_session_attribute_of_the_current_session() -> None:
    effect = one(update('path = "session.attributes.gift", value = true'), "updateAttribute")
    assert effect.props == {"path": "session.attributes.gift", "value": True}
    assert effect.params == {"owner": "session", "owner_id": "S1", "name": "gift"}


def test_the_name_is_everything_after_attributes() -> None:
    effect = one(update('path = "profile.attributes.a.b", value = 1'), "updateAttribute")
    assert effect.params["name"] == "a.b"


def test_values_of_every_toml_kind_are_kept_as_written() -> None:
    for written, value in [
        ("0", 0),
        ("2.5", 2.5),
        ("false", False),
        ('["a", "b"]', ["a", "b"]),
        ('{ level = 2, name = "x" }', {"level": 2, "name": "x"}),
    ]:
        keys = f'path = "profile.attributes.v", value = {written}'
        assert one(update(keys), "updateAttribute").props["value"] == value


def test_no_customer_no_profile_attribute_but_the_session_one_still_goes() -> None:
    assert update('path = "profile.attributes.tier", value = "x"', anonymous=True).effects == ()
    effect = one(
        update('path = "session.attributes.x", value = 1', anonymous=True), "updateAttribute"
    )
    assert effect.params["owner_id"] == "S1"


def test_no_session_no_session_attribute_but_the_profile_one_still_goes() -> None:
    when = '{ event = "joined" }'
    session_text = update_text('path = "session.attributes.x", value = 1', when)
    evaluation = update("", session_text, events=("joined",), sessionless=True)
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired
    profile_text = update_text('path = "profile.attributes.x", value = 1', when)
    effect = one(update("", profile_text, events=("joined",), sessionless=True), "updateAttribute")
    assert effect.params == {"owner": "profile", "owner_id": "P", "name": "x"}


def test_the_path_must_name_a_profile_or_session_attribute() -> None:
    expected = "must be profile.attributes.NAME or session.attributes.NAME"
    for path in ("customer.attributes.x", "profile.attributes.", "profile.tier"):
        assert mistakes(update_text(f'path = "{path}", value = 1')) == [
            ("rule 1 'r1': effect 1: path", f"{path!r} {expected}")
        ]


def test_path_and_value_are_required() -> None:
    assert mistakes(update_text('path = "profile.attributes.x"')) == [
        ("rule 1 'r1': effect 1", "missing key 'value'")
    ]
    assert mistakes(update_text("value = 1")) == [("rule 1 'r1': effect 1", "missing key 'path'")]


def test_a_date_value_is_a_problem() -> None:
    ((place, message),) = mistakes(update_text('path = "profile.attributes.x", value = 2026-05-01'))
    assert place == "rule 1 'r1': effect 1: value"
    assert message.startswith("expected ")
