"""Coupon reservations are soft and for many customers (talon_one@5.0.1-rc: createCouponReservation
"This endpoint creates a **soft** reservation. _Any_ customer can use a reserved coupon code";
getReservedCustomers "To create a hard reservation (only the given customer can use the coupon),
create a coupon ... for a given `recipientIntegrationId`"; CouponReservations.integrationIDs, a
list; deleteCouponReservation "Remove all the coupon reservations from the provided customer
profile integration IDs")."""

from __future__ import annotations

import json
from typing import Any

from tests.serving import Server, refcamp

CART = [{"sku": "mug", "name": "Mug", "price": 60, "quantity": 1, "category": "Kitchen"}]


def coupon(*options: str) -> str:
    code, _, err = refcamp("campaign", "activate", "spring-coupons")
    assert code == 0, err
    code, out, err = refcamp("coupon", "create", "--campaign", "spring-coupons", *options, "--json")
    assert code == 0, err
    return str(json.loads(out)[0]["value"])


def reserved(served: Server, value: str) -> list[str]:
    reply = served.request("GET", f"/v1/coupon_reservations/customerprofiles/{value}")
    assert reply.status == 200, reply
    assert reply.body["totalResultSize"] == len(reply.body["data"])
    return [p["integrationId"] for p in reply.body["data"]]


def close(served: Server, session: str, profile: str, value: str) -> list[dict[str, Any]]:
    body = {
        "customerSession": {
            "profileId": profile,
            "state": "closed",
            "couponCodes": [value],
            "cartItems": CART,
        }
    }
    reply = served.request("PUT", f"/v2/customer_sessions/{session}", body)
    assert reply.status == 200, reply
    return [e for e in reply.body["effects"] if e["effectType"].endswith("Coupon")]


def inventory(served: Server, profile: str) -> list[str]:
    reply = served.request("GET", f"/v1/customer_profiles/{profile}/inventory?coupons=true")
    assert reply.status == 200, reply
    return [c["value"] for c in reply.body.get("coupons", [])]


def test_one_call_reserves_a_coupon_for_many_customers(served: Server) -> None:
    value = coupon()
    path = f"/v1/coupon_reservations/{value}"
    first = served.request("POST", path, {"integrationIDs": ["ANN", "BOB"]})
    assert first.status == 201, first
    assert first.body["value"] == value
    assert "recipientIntegrationId" not in first.body  # soft: nobody's alone
    # A later call for another customer adds to them (it was 409).
    assert served.request("POST", path, {"integrationIDs": ["CAT"]}).status == 201
    assert reserved(served, value) == ["ANN", "BOB", "CAT"]


def test_anyone_may_redeem_a_soft_reserved_coupon(served: Server) -> None:
    value = coupon()
    assert served.request(
        "POST", f"/v1/coupon_reservations/{value}", {"integrationIDs": ["ANN"]}
    ).status == 201  # fmt: skip
    effects = close(served, "S-BOB", "BOB", value)
    assert [e["effectType"] for e in effects] == ["acceptCoupon"], effects


def test_a_reservation_shows_in_each_reserved_customers_inventory(served: Server) -> None:
    value = coupon()
    served.request("POST", f"/v1/coupon_reservations/{value}", {"integrationIDs": ["ANN", "BOB"]})
    assert inventory(served, "ANN") == [value]
    assert inventory(served, "BOB") == [value]
    served.request("PUT", "/v2/customer_profiles/CAT", {"attributes": {}})
    assert inventory(served, "CAT") == []  # not reserved, not theirs


def test_deleting_a_reservation_removes_only_the_given_customers(served: Server) -> None:
    value = coupon()
    path = f"/v1/coupon_reservations/{value}"
    served.request("POST", path, {"integrationIDs": ["ANN", "BOB", "CAT"]})
    gone = served.request("DELETE", path, {"integrationIDs": ["ANN", "CAT"]})
    assert gone.status == 204 and gone.body is None
    assert reserved(served, value) == ["BOB"]
    assert inventory(served, "ANN") == []
    assert inventory(served, "BOB") == [value]


def test_a_coupon_made_for_a_recipient_is_a_hard_reservation(served: Server) -> None:
    """Only its recipient may redeem it, and it cannot be reserved for anyone else ("coupons
    created for a specific user are not reservable", docs.talon.one, Using coupon wallets)."""
    value = coupon("--recipient", "ANN")
    assert reserved(served, value) == ["ANN"]
    other = served.request("POST", f"/v1/coupon_reservations/{value}", {"integrationIDs": ["BOB"]})
    assert other.status == 409 and "ANN" in other.body["message"], other
    effects = close(served, "S-BOB", "BOB", value)
    assert [e["props"].get("rejectionReason") for e in effects] == ["CouponRecipientDoesNotMatch"]
    # Deleting reservations leaves the hard one: the coupon is still ANN's.
    served.request("DELETE", f"/v1/coupon_reservations/{value}", {"integrationIDs": ["ANN"]})
    assert reserved(served, value) == ["ANN"]
    assert [e["effectType"] for e in close(served, "S-ANN", "ANN", value)] == ["acceptCoupon"]
