"""Paying with points: a rule that gives a discount for points is never half applied
(talon_one@5.0.1-rc, dist/model/DeductLoyaltyPointsEffectProps.js, RuleFailureReason.js,
RejectCouponEffectProps.js), driven over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serving import Server, refcamp

PAY = """
[campaign]
id = "pay"
name = "Pay with points"
state = "enabled"
features = ["coupons", "loyalty"]

[[loyalty_program]]
id = "wallet"
talon_id = 7

[[rules]]
name = "10 off for 100 points"
when = [{ coupon = "valid" }]
then = [
  { effect = "set_discount", name = "10 off", amount = 10 },
  { effect = "deduct_loyalty_points", program = "wallet", points = 100 },
]

[[rules]]
name = "Gold treat"
when = [{ loyalty_balance = "wallet", op = ">=", value = 500 }]
then = [{ effect = "show_notification", type = "info", title = "gold", body = "500 points" }]
"""


@pytest.fixture
def pay(campaigns_dir: Path) -> Path:
    (campaigns_dir / "pay.toml").write_text(PAY)
    return campaigns_dir


def add(profile: str, points: int) -> None:
    code, _, err = refcamp(
        "loyalty", "add", profile, "--program", "wallet", "--points", str(points), "--reason", "r"
    )
    assert code == 0, err


def coupon() -> None:
    code, _, err = refcamp("coupon", "create", "--campaign", "pay", "--code", "POINTS")
    assert code == 0, err


def close(server: Server, sid: str) -> dict[str, Any]:
    body = {
        "customerSession": {
            "profileId": "P",
            "state": "closed",
            "couponCodes": ["POINTS"],
            "cartItems": [{"sku": "a", "quantity": 1, "price": 40}],
        },
        "responseContent": ["ruleFailureReasons", "loyalty"],
    }
    reply = server.request("PUT", f"/v2/customer_sessions/{sid}", body)
    assert reply.status == 200, reply
    return reply.body


def test_without_the_points_none_of_the_rules_effects_apply(pay: Path, served: Server) -> None:
    """DeductLoyaltyPointsEffectProps: "triggered whenever a validated rule contained a condition
    to only trigger when the given number of loyalty points could be deduced"; the coupon the
    rule checked is rejected with `EffectCouldNotBeApplied`, and ruleFailureReasons names the
    effect (`effectIndex`: "The index of the effect that failed")."""
    add("P", 60)
    coupon()
    state = close(served, "S1")
    types = [e["effectType"] for e in state["effects"]]
    assert "setDiscount" not in types and "deductLoyaltyPoints" not in types, types
    [rejected] = [e for e in state["effects"] if e["effectType"] == "rejectCoupon"]
    assert rejected["props"]["rejectionReason"] == "EffectCouldNotBeApplied"
    assert rejected["props"]["effectIndex"] == 1
    [reason] = [r for r in state["ruleFailureReasons"] if r["ruleName"] == "10 off for 100 points"]
    assert reason["effectIndex"] == 1 and "P has 60 points in wallet" in reason["details"]
    assert state["loyalty"]["programs"]["7"]["ledger"]["currentBalance"] == 60


def test_with_the_points_the_discount_and_the_deduction_apply(pay: Path, served: Server) -> None:
    add("P", 150)
    coupon()
    state = close(served, "S1")
    types = [e["effectType"] for e in state["effects"]]
    assert types == ["acceptCoupon", "setDiscount", "deductLoyaltyPoints"], types
    assert state["loyalty"]["programs"]["7"]["ledger"]["currentBalance"] == 50


def test_a_rule_can_test_the_loyalty_balance(pay: Path, served: Server) -> None:
    """The rule builder's customer loyalty balance condition."""
    add("P", 499)
    body = {"customerSession": {"profileId": "P"}, "responseContent": ["ruleFailureReasons"]}
    first = served.request("PUT", "/v2/customer_sessions/S1", body).body
    assert "showNotification" not in [e["effectType"] for e in first["effects"]]
    [reason] = [r for r in first["ruleFailureReasons"] if r["ruleName"] == "Gold treat"]
    assert reason["conditionIndex"] == 0 and "wallet balance = 499" in reason["details"]
    add("P", 1)
    again = served.request("PUT", "/v2/customer_sessions/S1", body).body
    assert "showNotification" in [e["effectType"] for e in again["effects"]]
