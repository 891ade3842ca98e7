"""Reopening a closed session rolls back what its close booked except the points already
active, and closing it again awards no point twice; driven over real HTTP. Source:
talon_one@5.0.1-rc, dist/api/IntegrationApi.js, reopenCustomerSession: "Modified budgets and
triggered effects when the session was closed are rolled back except for the list below ...
Any **not pending** pending loyalty points"; AddLoyaltyPointsEffectProps.desiredValue ("The
original amount of loyalty points to be awarded")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serving import Server, refcamp, start

# Points that wait a week before they count: a reopen rolls them back.
PENDING = """
[campaign]
id = "pending-points"
name = "Points pending for a week"
state = "enabled"
features = ["loyalty"]

[[rules]]
name = "A week later"
when = [{ event = "talon_session_closed" }]

[[rules.then]]
effect = "add_loyalty_points"
program = "sample-wallet"
points = 20
pending = "7D"
reason = "20 points in a week"
"""


@pytest.fixture
def shop(campaigns_dir: Path) -> Any:
    (campaigns_dir / "pending-points.toml").write_text(PENDING, encoding="utf-8")
    code, _, err = refcamp("campaign", "activate", "medium-referral")
    assert code == 0, err
    server = start()
    yield server
    server.stop()


def referred_close(server: Server) -> dict[str, Any]:
    """ADV registers; F closes S1 with ADV's referral code."""
    profile = server.request(
        "PUT", "/v2/customer_profiles/ADV?runRuleEngine=true", {"attributes": {}}
    )
    assert profile.status == 200, profile
    code = profile.body["createdReferrals"][0]["code"]
    cart = [{"sku": "a", "quantity": 1, "price": 30}]
    return close(server, {"profileId": "F", "referralCode": code, "cartItems": cart})


def close(server: Server, session: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"customerSession": {**(session or {}), "state": "closed"}}
    reply = server.request("PUT", "/v2/customer_sessions/S1", body)
    assert reply.status == 200, reply
    return reply.body


def reopen(server: Server) -> dict[str, Any]:
    reply = server.request("PUT", "/v2/customer_sessions/S1/reopen")
    assert reply.status == 200, reply
    return reply.body


def points(server: Server, who: str) -> tuple[int, int]:
    """(active, pending) points of `who` in sample-wallet."""
    reply = server.request("GET", f"/v1/loyalty_programs/1/profile/{who}/balances")
    assert reply.status == 200, reply
    balance = reply.body["balance"]
    return int(balance["activePoints"]), int(balance["pendingPoints"])


def types(body: dict[str, Any]) -> list[str]:
    return [e["effectType"] for e in body["effects"]]


def test_reopen_keeps_active_points(served: Server) -> None:
    """The advocate's 100 and the friend's 50 are active: they stay (refcamp took both to 0).
    The referral's use is given back: it is no creation, and closing again redeems it anew."""
    referred_close(served)
    reopened = reopen(served)
    assert types(reopened) == ["rollbackReferral"]
    assert (points(served, "ADV"), points(served, "F")) == ((100, 0), (50, 0))
    code, out, err = refcamp("db", "check")
    assert code == 0, out + err


def test_reopen_rolls_back_pending_points(shop: Server) -> None:
    referred_close(shop)
    assert points(shop, "F") == (50, 20)
    reopened = reopen(shop)
    rolled = [e["props"] for e in reopened["effects"] if e["effectType"].startswith("rollbackAdd")]
    assert [(p["recipientIntegrationId"], p["value"]) for p in rolled] == [("F", 20)]
    assert points(shop, "F") == (50, 0)


def test_closing_again_awards_no_active_point_twice(shop: Server) -> None:
    """Closing the reopened session runs the rules on talon_session_closed again: the referral
    is redeemed anew and the pending points are booked anew, but the active points that stayed
    are not added a second time."""
    referred_close(shop)
    reopen(shop)
    again = close(shop)
    assert "acceptReferral" in types(again)
    added = [e["props"] for e in again["effects"] if e["effectType"] == "addLoyaltyPoints"]
    assert [(p["recipientIntegrationId"], p["value"]) for p in added] == [("F", 20)]
    assert (points(shop, "ADV"), points(shop, "F")) == ((100, 0), (50, 20))
    # a second round changes nothing either
    reopen(shop)
    close(shop)
    assert (points(shop, "ADV"), points(shop, "F")) == ((100, 0), (50, 20))
    code, out, err = refcamp("db", "check")
    assert code == 0, out + err
