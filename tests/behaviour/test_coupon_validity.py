"""Why a coupon is rejected, over HTTP (`rejectCoupon.rejectionReason`, the SDK's
RejectCouponEffectProps: "The reason why this coupon was rejected")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import Server, refcamp, start

T0 = "2026-03-01T10:00:00Z"


@pytest.fixture
def coupons(campaigns_dir: Path) -> Iterator[Server]:
    for args in (
        ("campaign", "activate", "spring-coupons"),
        ("coupon", "create", "--campaign", "spring-coupons", "--code", "GOOD"),
        ("coupon", "create", "--campaign", "spring-coupons", "--code", "LATE",
         "--starts", "2026-01-01T00:00:00Z", "--expires", "2026-02-01T00:00:00Z"),
        ("coupon", "create", "--campaign", "spring-coupons", "--code", "EARLY",
         "--starts", "2026-06-01T00:00:00Z"),
    ):  # fmt: skip
        code, _, err = refcamp("--now", T0, *args)
        assert code == 0, err
    server = start()
    yield server
    server.stop()


def verdict(server: Server, code: str, session: str) -> tuple[str, str | None]:
    item = {"name": "Boots", "sku": "B1", "price": 100, "quantity": 1}
    body = {"customerSession": {"profileId": "P", "couponCodes": [code], "cartItems": [item]}}
    reply = server.request("PUT", f"/v2/customer_sessions/{session}?now={T0}", body)
    assert reply.status == 200, reply
    for effect in reply.body["effects"]:
        if effect["effectType"] == "acceptCoupon":
            return "accepted", None
        if effect["effectType"] == "rejectCoupon":
            return "rejected", effect["props"]["rejectionReason"]
    raise AssertionError(reply.body["effects"])


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("GOOD", None),
        ("NOPE", "CouponNotFound"),
        ("LATE", "CouponExpired"),
        ("EARLY", "CouponStartDateInFuture"),
    ],
)
def test_a_coupon_is_accepted_or_rejected_with_its_reason(
    coupons: Server, code: str, reason: str | None
) -> None:
    assert verdict(coupons, code, f"S-{code}") == ("accepted" if reason is None else "rejected",
                                                   reason)  # fmt: skip


def test_a_coupon_of_a_campaign_that_is_not_running(coupons: Server) -> None:
    code, _, err = refcamp("campaign", "deactivate", "spring-coupons")
    assert code == 0, err
    assert verdict(coupons, "GOOD", "S-OFF") == ("rejected", "CouponPartOfNotRunningCampaign")
