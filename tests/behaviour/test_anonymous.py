"""Anonymous sessions and events (talon_one@5.0.1-rc: NewCustomerSessionV2.profileId is optional
and updateCustomerSessionV2 says "you can create an anonymous session with profileId=\"\"";
trackEventV2 says "`profileId` is required. An event is associated with a customer profile")."""

from __future__ import annotations

from typing import Any

from tests.serving import Server

CART = [{"sku": "mug", "name": "Mug", "price": 80, "quantity": 1, "category": "Kitchen"}]


def close(served: Server, session: str, **fields: Any) -> Any:
    body = {
        "customerSession": {"state": "closed", "cartItems": CART, **fields},
        "responseContent": ["customerSession", "customerProfile"],
    }
    reply = served.request("PUT", f"/v2/customer_sessions/{session}", body)
    assert reply.status == 200, reply
    return reply.body


def test_a_session_without_a_profile_id_is_anonymous(served: Server) -> None:
    """No customer is made up: the session has none, earns nobody points, and no profile
    appears (it was a generated customer who earned points)."""
    state = close(served, "S-ANON")
    assert state["customerSession"].get("profileId", "") == ""
    assert "customerProfile" not in state
    assert "generated" not in state
    assert not [e for e in state["effects"] if e["effectType"] == "addLoyaltyPoints"]
    shown = served.request("GET", "/v2/customer_sessions/S-ANON")
    assert shown.body["customerSession"].get("profileId", "") == ""


def test_an_empty_profile_id_is_anonymous_as_a_missing_one(served: Server) -> None:
    missing = close(served, "S-MISSING")
    empty = close(served, "S-EMPTY", profileId="")
    for state in (missing, empty):
        assert state["customerSession"].get("profileId", "") == ""
    assert [e["effectType"] for e in missing["effects"]] == [
        e["effectType"] for e in empty["effects"]
    ]


def test_an_event_without_a_profile_id_is_400_naming_it(served: Server) -> None:
    for body in ({"type": "review_posted"}, {"type": "review_posted", "profileId": ""}):
        reply = served.request("POST", "/v2/events?silent=no", body)
        assert reply.status == 400, reply
        assert "profileId" in reply.body["message"]
        assert reply.body["errors"][0]["source"] == {"pointer": "/profileId"}
    # A guest's id will do.
    guest = {"type": "review_posted", "profileId": "guest-1"}
    assert served.request("POST", "/v2/events", guest).status == 204
