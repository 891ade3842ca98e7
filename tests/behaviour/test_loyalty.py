"""Loyalty points over HTTP: pending points become active at their start, active points expire at
the end of their validity, and a deduction spends the soonest-expiring points first.

Sources: the SDK's `LoyaltyBalance` (activePoints: "Total amount of points awarded to this
customer and available to spend"; pendingPoints: "Total amount of points awarded to this customer
but not available until their start date"; expiredPoints, spentPoints), `getLoyaltyBalances`
(`endDate`: "Used to return expired, active, and pending loyalty balances before this timestamp"),
and docs.talon.one's loyalty programs (pending points, point expiration, "points that expire
soonest are deducted first")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving import Server, refcamp, start

CAMPAIGN = """
[campaign]
id = "earn"
state = "enabled"
features = ["loyalty"]

[[loyalty_program]]
id = "wallet"
pending = "2D"
validity = "30D"

[[rules]]
name = "Points for an order"
when = [{ event = "talon_session_closed" }]
then = [{ effect = "add_loyalty_points", program = "wallet", points = 10, reason = "order" }]
"""
T0 = "2026-03-01T10:00:00Z"


@pytest.fixture
def earning(campaigns_dir: Path) -> Iterator[Server]:
    for old in campaigns_dir.glob("*.toml"):
        old.unlink()
    (campaigns_dir / "earn.toml").write_text(CAMPAIGN)
    server = start()
    yield server
    server.stop()


def close(server: Server, session: str, now: str) -> None:
    body = {"customerSession": {"profileId": "P", "state": "closed"}}
    reply = server.request("PUT", f"/v2/customer_sessions/{session}?now={now}", body)
    assert reply.status == 200, reply


def balance(server: Server, end: str) -> dict[str, Any]:
    path = f"/v1/loyalty_programs/wallet/profile/P/balances?endDate={end}"
    reply = server.request("GET", path)
    assert reply.status == 200, reply
    return reply.body["balance"]  # type: ignore[no-any-return]


def test_pending_points_become_active_at_their_start_and_expire_after_their_validity(
    earning: Server,
) -> None:
    close(earning, "S1", T0)
    pending = balance(earning, "2026-03-02T10:00:00Z")  # a day later: still pending
    assert (pending["pendingPoints"], pending["activePoints"]) == (10, 0)
    active = balance(earning, "2026-03-04T10:00:00Z")  # after 2 days: active
    assert (active["pendingPoints"], active["activePoints"]) == (0, 10)
    expired = balance(earning, "2026-04-04T10:00:00Z")  # 30 days after becoming active
    assert (expired["activePoints"], expired["expiredPoints"]) == (0, 10)


def test_a_deduction_spends_the_soonest_expiring_points_first(earning: Server) -> None:
    close(earning, "S1", T0)  # active 03-03, expires 04-02
    close(earning, "S2", "2026-03-10T10:00:00Z")  # active 03-12, expires 04-11
    code, _, err = refcamp(
        "--now", "2026-03-20T10:00:00Z", "loyalty", "deduct", "P", "--program", "wallet",
        "--points", "10", "--reason", "spent",
    )  # fmt: skip
    assert code == 0, err
    # After the first batch's expiry, what is left is the second batch: the first was spent.
    later = balance(earning, "2026-04-05T10:00:00Z")
    assert (later["activePoints"], later["spentPoints"], later["expiredPoints"]) == (10, 10, 0)
