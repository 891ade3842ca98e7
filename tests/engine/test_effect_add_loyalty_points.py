"""{ effect = "add_loyalty_points" }: plans an addLoyaltyPoints effect in Talon.One's shape for
the current customer or the advocate of the session's referral code: a fixed number of points or
points_per unit of a numeric path, rounded down and capped, with startDate and expiryDate from
the effect's or the program's pending and validity. Nothing is planned without a recipient or
when the amount comes to zero; campaign limits count points per recipient."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from kit import NOW, campaign, catalog, facts, item, limits, mistakes, one, rule, types
from kit import referral as referral_code

from refcamp.clock import iso
from refcamp.engine import Evaluation, evaluate
from refcamp.models import Catalog, Referral
from refcamp.tables import LARGEST

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_closed" }'
CLOSED = ("talon_session_closed",)
FIXED = 'program = "wallet", points = 100'


def points_text(
    keys: str = FIXED, program: str = "", extra: str = "", when: str = WHEN, rules: int = 1
) -> str:
    """Campaign `pts` with program `wallet` (`program` adds its keys); rules r1.. add points
    when a session closes, `keys` being the inside of the effect's table."""
    then = f'{{ effect = "add_loyalty_points", {keys} }}'
    written = [rule(when, then, name=f"r{i + 1}") for i in range(rules)]
    wallet = f'\n[[loyalty_program]]\nid = "wallet"\n{program}\n'
    return campaign(*written, cid="pts", extra=extra) + wallet


def points(keys: str = FIXED, program: str = "", **fields: Any) -> Evaluation:
    """The evaluation of closing P's session under `points_text(keys, program)`."""
    rules: Catalog = fields.pop("rules", None) or catalog(points_text(keys, program))
    return evaluate(rules, facts(*fields.pop("items", ()), events=CLOSED, **fields))


def added(evaluation: Evaluation) -> dict[str, Any]:
    return dict(one(evaluation, "addLoyaltyPoints").props)


def test_fixed_points_for_the_customer_in_talon_ones_shape() -> None:
    effect = one(points(), "addLoyaltyPoints")
    assert effect.props == {
        "name": "100 points",  # the default reason
        "programId": "wallet",
        "subLedgerId": "",
        "value": 100,
        "recipientIntegrationId": "P",
        "transactionUUID": None,  # set when the service books it
    }
    assert effect.params == {"start_date": NOW, "expiry_date": None}


def test_the_reason_names_the_entry() -> None:
    assert added(points(f'{FIXED}, reason = "Welcome"'))["name"] == "Welcome"


def test_the_program_pending_and_validity_give_start_and_expiry_dates() -> None:
    effect = one(points(program='pending = "1W"\nvalidity = "30D"'), "addLoyaltyPoints")
    start = NOW + timedelta(weeks=1)
    expiry = start + timedelta(days=30)  # validity counts from when the points become active
    assert effect.props["startDate"] == iso(start) == "2026-05-08T00:00:00.000Z"
    assert effect.props["expiryDate"] == iso(expiry)
    assert effect.params == {"start_date": start, "expiry_date": expiry}


def test_the_effect_pending_and_validity_come_before_the_programs() -> None:
    program = 'pending = "1W"\nvalidity = "30D"'
    keys = f'{FIXED}, pending = "immediate", validity = "1Y"'
    props = added(points(keys, program))
    assert "startDate" not in props  # immediate: active now, no startDate
    assert props["expiryDate"] == iso(NOW.replace(year=NOW.year + 1))
    unlimited = added(points(f'{FIXED}, validity = "unlimited"', program))
    assert "expiryDate" not in unlimited
    assert unlimited["startDate"] == iso(NOW + timedelta(weeks=1))


def test_points_per_unit_of_the_session_total_are_rounded_down() -> None:
    keys = 'program = "wallet", points_per = 1, of = "session.total"'
    props = added(points(keys, items=[item(price=19.99, quantity=2)], costs={"shipping": 5}))
    assert props["value"] == 44  # 44.98 points
    assert props["name"] == "1 points per session.total"


def test_a_fraction_per_unit_is_not_lost_to_float_error() -> None:
    keys = 'program = "wallet", points_per = 0.29, of = "session.cartItemTotal"'
    assert added(points(keys, items=[item(price=100)]))["value"] == 29  # 0.29 * 100 = 28.99...


def test_points_per_item_counts_quantities() -> None:
    keys = 'program = "wallet", points_per = 5, of = "session.itemCount"'
    assert added(points(keys, items=[item("a", quantity=2), item("b")]))["value"] == 15


def test_an_amount_that_rounds_to_zero_plans_nothing() -> None:
    keys = 'program = "wallet", points_per = 0.1, of = "session.total"'
    evaluation = points(keys, items=[item(price=9)])
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired


def test_points_per_without_a_session_plans_nothing() -> None:
    keys = 'program = "wallet", points_per = 1, of = "session.total"'
    assert points(keys, sessionless=True).effects == ()


def test_a_huge_amount_is_capped_at_the_largest_count() -> None:
    keys = 'program = "wallet", points_per = 1000000, of = "session.total"'
    assert added(points(keys, items=[item(price=1e9)]))["value"] == LARGEST


def test_an_anonymous_session_gets_no_points() -> None:
    evaluation = points(anonymous=True)
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired


def referral(**fields: Any) -> Referral:
    """Code CODE-1 of campaign `pts`, made by advocate ADV (fields override)."""
    return referral_code(**{"campaign_id": "pts", **fields})


ADVOCATE = f'{FIXED}, recipient = "advocate"'
REFERRED = '{ referral = "valid" }, { event = "talon_session_closed" }'


def test_the_advocate_of_a_valid_referral_code_gets_the_points() -> None:
    rules = catalog(points_text(ADVOCATE, when=REFERRED))
    evaluation = points(rules=rules, referral_code="CODE-1", referral=referral())
    assert types(evaluation) == ["acceptReferral", "addLoyaltyPoints"]
    assert added(evaluation)["recipientIntegrationId"] == "ADV"


def test_no_advocate_points_without_a_valid_code_for_this_campaign() -> None:
    rules = catalog(points_text(ADVOCATE))  # the rule fires whatever the code
    assert points(rules=rules).effects == ()  # no code at all
    expired = referral(expiry_date=NOW)
    evaluation = points(rules=rules, referral_code="CODE-1", referral=expired)
    assert types(evaluation) == ["rejectReferral"]
    other = referral(campaign_id="elsewhere")
    assert "addLoyaltyPoints" not in types(
        points(rules=rules, referral_code="CODE-1", referral=other)
    )


def test_a_points_limit_per_profile_counts_the_recipients_points() -> None:
    text = points_text(ADVOCATE, when=REFERRED, extra=limits(("addLoyaltyPoints", 150, "profile")))
    rules, code = catalog(text), referral()
    used = {("pts", "addLoyaltyPoints", "profile", "ADV"): 150}
    evaluation = points(rules=rules, referral_code="CODE-1", referral=code, usage=used)
    assert types(evaluation) == ["acceptReferral"]
    (blocked,) = evaluation.blocked
    assert (blocked.effect_type, blocked.reason) == ("addLoyaltyPoints", "ProfileLimitReached")
    assert blocked.details == "limit 150 points per profile: 150 used, this needs 100 more"
    some_left = {("pts", "addLoyaltyPoints", "profile", "ADV"): 60}
    capped = points(rules=rules, referral_code="CODE-1", referral=code, usage=some_left)
    added = capped.effects[1].props
    assert (added["value"], added["desiredValue"]) == (90, 100)
    friend_used = {("pts", "addLoyaltyPoints", "profile", "P"): 150}  # the friend's count
    spared = points(rules=rules, referral_code="CODE-1", referral=code, usage=friend_used)
    assert types(spared) == ["acceptReferral", "addLoyaltyPoints"]


def test_a_points_limit_per_campaign_counts_computed_points() -> None:
    keys = 'program = "wallet", points_per = 1, of = "session.total"'
    text = points_text(keys, extra=limits(("addLoyaltyPoints", 100, "campaign")), rules=2)
    evaluation = points(rules=catalog(text), items=[item(price=60)])
    assert [(e.rule_name, e.props["value"]) for e in evaluation.effects] == [("r1", 60), ("r2", 40)]
    assert evaluation.effects[1].props["desiredValue"] == 60


def test_points_and_points_per_together_are_a_problem() -> None:
    keys = 'program = "wallet", points = 5, points_per = 1, of = "session.total"'
    assert mistakes(points_text(keys)) == [
        ("rule 1 'r1': effect 1", "give either points (a fixed number) or points_per with of")
    ]


def test_points_per_needs_of_and_of_needs_points_per() -> None:
    assert mistakes(points_text('program = "wallet", points_per = 2')) == [
        ("rule 1 'r1': effect 1", 'points_per needs of (e.g. of = "session.total")')
    ]
    assert mistakes(points_text(f'{FIXED}, of = "session.total"')) == [
        ("rule 1 'r1': effect 1: of", "only goes with points_per")
    ]


def test_zero_points_and_an_unknown_recipient_are_problems() -> None:
    assert mistakes(points_text('program = "wallet", points = 0')) == [
        ("rule 1 'r1': effect 1: points", "must be at least 1, got 0")
    ]
    ((place, message),) = mistakes(points_text(f'{FIXED}, recipient = "friend"'))
    assert place == "rule 1 'r1': effect 1: recipient"
    assert message == "unknown value 'friend'; one of: current, advocate"


def test_an_unknown_program_is_a_problem_with_a_suggestion() -> None:
    ((place, message),) = mistakes(points_text('program = "walet", points = 5'))
    assert place == "rule 1 'r1': effect 1: program"
    assert message.startswith("unknown loyalty program 'walet'")
    assert "wallet" in message
