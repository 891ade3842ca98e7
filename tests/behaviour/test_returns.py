"""Returning cart items rolls back what the returned items earned, and only that, driven over real
HTTP. Sources: talon_one@5.0.1-rc, dist/api/IntegrationApi.js, returnCartItems ("This will roll
back any effects associated with these cart items"); dist/model/SetDiscountPerItemEffectProps.js
and RollbackAddedLoyaltyPointsEffectProps.js (position/subPosition, cartItemPosition/
cartItemSubPosition); docs.talon.one/docs/dev/tutorials/partially-returning-a-session (a $5
discount per item, three setDiscountPerItem effects; returning one shirt rolls back one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serving import Server, refcamp, start

# The tutorial's campaign: $5 off each item unit; and 10 points per unit for the customer.
PER_ITEM = """
[campaign]
id = "per-item"
name = "Per-item points and discounts"
state = "enabled"
features = ["loyalty"]

[[rules]]
name = "Each unit earns"
when = [{ event = "talon_session_closed" }]

[[rules.then]]
effect = "add_loyalty_points"
program = "sample-wallet"
per_item = true
points = 10
reason = "10 points per item"

[[rules.then]]
effect = "set_discount"
name = "5forALL"
amount = 5
per_item = true
"""

# The tutorial's cart: one pair of shoes and two of the same shirt.
CART = [
    {"name": "shoes1", "sku": "9696", "quantity": 1, "price": 60, "category": "shoes"},
    {"name": "shirts3", "sku": "6478", "quantity": 2, "price": 20, "category": "shirts"},
]


@pytest.fixture
def shop(campaigns_dir: Path) -> Any:
    """A server with the seed's referral campaign and the per-item campaign active."""
    (campaigns_dir / "per-item.toml").write_text(PER_ITEM, encoding="utf-8")
    code, _, err = refcamp("campaign", "activate", "medium-referral")
    assert code == 0, err
    server = start()
    yield server
    server.stop()


def referred_close(server: Server) -> dict[str, Any]:
    """ADV registers; F closes S1 with ADV's referral code and the tutorial's cart."""
    profile = server.request(
        "PUT", "/v2/customer_profiles/ADV?runRuleEngine=true", {"attributes": {}}
    )
    assert profile.status == 200, profile
    code = profile.body["createdReferrals"][0]["code"]
    session = {"profileId": "F", "referralCode": code, "state": "closed", "cartItems": CART}
    closed = server.request("PUT", "/v2/customer_sessions/S1", {"customerSession": session})
    assert closed.status == 200, closed
    return closed.body


def active(server: Server, who: str) -> int:
    reply = server.request("GET", f"/v1/loyalty_programs/1/profile/{who}/balances")
    assert reply.status == 200, reply
    return int(reply.body["balance"]["activePoints"])


def give_back(server: Server, position: int, quantity: int = 1) -> dict[str, Any]:
    body = {
        "return": {"returnedCartItems": [{"position": position, "quantity": quantity}]},
        "responseContent": ["customerSession"],
    }
    reply = server.request("POST", "/v2/customer_sessions/S1/returns", body)
    assert reply.status == 200, reply
    return reply.body


def kinds(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(e["effectType"], e["props"]) for e in body["effects"]]


def test_a_return_leaves_points_no_returned_item_earned(served: Server) -> None:
    """The referral's bonus was earned by the session, not by an item: returning an item rolls
    none of it back (refcamp rolled back a share of it by value: 100 -> 61, 50 -> 31)."""
    referred_close(served)
    assert (active(served, "ADV"), active(served, "F")) == (100, 50)
    returned = give_back(served, 0)
    assert returned["effects"] == []
    assert returned["customerSession"]["state"] == "partially_returned"
    assert (active(served, "ADV"), active(served, "F")) == (100, 50)
    assert refcamp("db", "check")[0] == 0


def test_per_item_effects_name_their_item_and_unit(shop: Server) -> None:
    """With cart item flattening, the tutorial's cart is three units: a setDiscountPerItem of 5
    and an addLoyaltyPoints of 10 for each, at position/subPosition (0,0), (1,0), (1,1)."""
    closed = referred_close(shop)
    discounts = [p for t, p in kinds(closed) if t == "setDiscountPerItem"]
    assert [(p["position"], p["subPosition"], p["value"]) for p in discounts] == [
        (0, 0, 5.0),
        (1, 0, 5.0),
        (1, 1, 5.0),
    ]
    per_item = [p for t, p in kinds(closed) if t == "addLoyaltyPoints" and "cartItemPosition" in p]
    assert [(p["cartItemPosition"], p["cartItemSubPosition"], p["value"]) for p in per_item] == [
        (0, 0, 10),
        (1, 0, 10),
        (1, 1, 10),
    ]
    assert all(p["transactionUUID"] for p in per_item)
    assert (active(shop, "ADV"), active(shop, "F")) == (100, 80)


def test_a_return_rolls_back_what_the_returned_unit_earned(shop: Server) -> None:
    """Returning one shirt rolls back its 10 points and its 5 off (the first unit not yet
    returned: position 1, subPosition 0), then the second shirt's; the shoes' and the
    referral's stay."""
    referred_close(shop)
    first = give_back(shop, 1)
    assert kinds(first) == [
        (
            "rollbackAddedLoyaltyPoints",
            {
                "programId": first["effects"][0]["props"]["programId"],
                "subLedgerId": "",
                "value": 10,
                "recipientIntegrationId": "F",
                "transactionUUID": first["effects"][0]["props"]["transactionUUID"],
                "cartItemPosition": 1,
                "cartItemSubPosition": 0,
            },
        ),
        (
            "rollbackDiscount",
            {"name": "5forALL", "value": 5.0, "cartItemPosition": 1, "cartItemSubPosition": 0},
        ),
    ]
    assert (active(shop, "ADV"), active(shop, "F")) == (100, 70)
    second = give_back(shop, 1)
    assert [(t, p["cartItemSubPosition"]) for t, p in kinds(second)] == [
        ("rollbackAddedLoyaltyPoints", 1),
        ("rollbackDiscount", 1),
    ]
    assert (active(shop, "ADV"), active(shop, "F")) == (100, 60)
    # nothing of position 1 is left to return: 400, and nothing changes
    body = {"return": {"returnedCartItems": [{"position": 1, "quantity": 1}]}}
    assert shop.request("POST", "/v2/customer_sessions/S1/returns", body).status == 400
    assert (active(shop, "ADV"), active(shop, "F")) == (100, 60)
    code, out, err = refcamp("db", "check")
    assert code == 0, out + err


def test_a_dry_return_rolls_back_nothing(shop: Server) -> None:
    referred_close(shop)
    body = {"return": {"returnedCartItems": [{"position": 0}]}}
    dry = shop.request("POST", "/v2/customer_sessions/S1/returns?dry=true", body)
    assert dry.status == 200, dry
    assert [t for t, _ in kinds(dry.body)] == ["rollbackAddedLoyaltyPoints", "rollbackDiscount"]
    assert active(shop, "F") == 80
