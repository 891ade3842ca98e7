"""{ effect = "reserve_coupon", code = "..." }: plans a reserveCoupon effect that reserves an
existing coupon for the current customer (couponValue, profileIntegrationId, isNewReservation).
The engine plans it for any code: whether the coupon exists and is free is decided when the
service books it. Nothing is planned without a customer; no campaign limit counts it."""

from __future__ import annotations

from typing import Any

import pytest
from kit import campaign, catalog, facts, limits, mistakes, one, profile, rule, types

from refcamp.engine import Evaluation, evaluate

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

WHEN = '{ event = "talon_session_closed" }'
CLOSED = ("talon_session_closed",)
RESERVE = 'code = "VIP-1"'


def reserve_text(keys: str = RESERVE, extra: str = "", when: str = WHEN) -> str:
    """Campaign `cpn` whose rule r1 reserves a coupon when a session closes."""
    return campaign(
        rule(when, f'{{ effect = "reserve_coupon", {keys} }}', name="r1"), cid="cpn", extra=extra
    )


def reserve(keys: str = RESERVE, text: str | None = None, **fields: Any) -> Evaluation:
    fields.setdefault("events", CLOSED)
    return evaluate(catalog(text or reserve_text(keys)), facts(**fields))


def test_the_reservation_in_talon_ones_shape() -> None:
    effect = one(reserve(customer=profile("ana")), "reserveCoupon")
    assert (effect.campaign_id, effect.rule_name) == ("cpn", "r1")
    assert effect.props == {
        "couponValue": "VIP-1",
        "profileIntegrationId": "ana",
        "isNewReservation": True,  # the booking says False when it was already theirs
    }
    assert effect.params == {}


def test_any_code_is_planned_the_booking_checks_it_exists() -> None:
    # The facts hold no record of VIP-1 (nor of the session's codes): the plan does not look.
    evaluation = reserve(coupon_codes=("OTHER",), coupons={"OTHER": None})
    assert "reserveCoupon" in types(evaluation)


def test_a_request_without_a_session_can_reserve() -> None:
    text = reserve_text(when='{ event = "joined" }')
    evaluation = reserve(text=text, events=("joined",), sessionless=True)
    assert types(evaluation) == ["reserveCoupon"]


def test_an_anonymous_session_has_nobody_to_reserve_for() -> None:
    evaluation = reserve(anonymous=True)
    assert evaluation.effects == ()
    assert evaluation.rules[0].fired


def test_coupon_limits_do_not_count_reservations() -> None:
    extra = limits(("createCoupon", 1, "profile"), ("redeemCoupon", 1, "profile"))
    used = {("cpn", "createCoupon", "profile", "P"): 1, ("cpn", "redeemCoupon", "profile", "P"): 1}
    evaluation = reserve(text=reserve_text(extra=extra), usage=used)
    assert types(evaluation) == ["reserveCoupon"]
    assert evaluation.blocked == ()


def test_the_code_is_required() -> None:
    text = campaign(rule(WHEN, '{ effect = "reserve_coupon" }', name="r1"))
    assert mistakes(text) == [("rule 1 'r1': effect 1", "missing key 'code'")]


def test_the_code_must_be_non_empty_text() -> None:
    assert mistakes(reserve_text('code = " "')) == [
        ("rule 1 'r1': effect 1: code", "must not be empty")
    ]
    ((place, message),) = mistakes(reserve_text("code = 7"))
    assert place == "rule 1 'r1': effect 1: code"
    assert message == "expected a string, got an integer 7"


def test_an_unknown_key_is_a_problem() -> None:
    ((place, message),) = mistakes(reserve_text(f'{RESERVE}, profile = "ana"'))
    assert place == "rule 1 'r1': effect 1"
    assert message.startswith("unknown key 'profile'")
