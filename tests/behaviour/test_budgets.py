"""Campaign budgets nearly spent: an effect asking more than a budget has left gets what is
left, `value` the capped amount and `desiredValue` the one asked (talon_one@5.0.1-rc,
dist/model/SetDiscountEffectProps.js and AddLoyaltyPointsEffectProps.js), over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serving import Server

BUDGETS = """
[campaign]
id = "budgets"
state = "enabled"

[[campaign.limits]]
action = "setDiscount"
limit = 25

[[campaign.limits]]
action = "addLoyaltyPoints"
limit = 250

[[loyalty_program]]
id = "wallet"
talon_id = 7

[[rules]]
name = "10 off and 100 points"
when = [{ event = "talon_session_closed" }]
then = [
  { effect = "set_discount", name = "10 off", amount = 10 },
  { effect = "add_loyalty_points", program = "wallet", points = 100 },
]
"""


@pytest.fixture
def budgets(campaigns_dir: Path) -> Path:
    (campaigns_dir / "budgets.toml").write_text(BUDGETS)
    return campaigns_dir


def close(server: Server, sid: str) -> dict[str, dict[str, Any]]:
    """The props of the closing's effects of the budgets campaign, by effectType."""
    body = {
        "customerSession": {
            "profileId": f"P-{sid}",
            "state": "closed",
            "cartItems": [{"sku": "a", "quantity": 1, "price": 40}],
        },
        "responseContent": ["ruleFailureReasons"],
    }
    reply = server.request("PUT", f"/v2/customer_sessions/{sid}", body)
    assert reply.status == 200, reply
    return {e["effectType"]: e["props"] for e in reply.body["effects"]}


def test_a_nearly_spent_budget_caps_the_effect(budgets: Path, served: Server) -> None:
    """SetDiscountEffectProps.desiredValue: "The original value of the discount";
    AddLoyaltyPointsEffectProps.desiredValue: "The original amount of loyalty points to be
    awarded"."""
    for sid in ("S1", "S2"):
        full = close(served, sid)
        assert full["setDiscount"]["value"] == 10 and "desiredValue" not in full["setDiscount"]
        assert full["addLoyaltyPoints"]["value"] == 100
    capped = close(served, "S3")
    assert (capped["setDiscount"]["value"], capped["setDiscount"]["desiredValue"]) == (5, 10)
    points = capped["addLoyaltyPoints"]
    assert (points["value"], points["desiredValue"]) == (50, 100)
    spent = close(served, "S4")
    assert "setDiscount" not in spent and "addLoyaltyPoints" not in spent


def test_the_capped_points_are_the_points_booked(budgets: Path, served: Server) -> None:
    for sid in ("S1", "S2", "S3"):
        close(served, sid)
    balances = served.request("GET", "/v1/loyalty_programs/7/profile/P-S3/balances")
    assert balances.status == 200, balances
    assert balances.body["balance"]["activePoints"] == 50
