"""Loyalty balances as Talon.One shows them (talon_one@5.0.1-rc, dist/model/LedgerInfo.js,
LoyaltyProgramBalance.js and LoyaltyBalance.js), driven over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.serving import Server, refcamp

WALLET = 7  # the program's talon_id
PAY = """
[campaign]
id = "pay"
state = "enabled"

[[loyalty_program]]
id = "wallet"
talon_id = 7

[[rules]]
name = "Pay with points"
when = [{ attribute = "session.attributes.pay", op = "==", value = true }]
then = [{ effect = "deduct_loyalty_points", program = "wallet", points = 100 }]

[[rules]]
name = "Ten points a visit"
when = []
then = [{ effect = "add_loyalty_points", program = "wallet", points = 10 }]
"""


@pytest.fixture
def wallet(campaigns_dir: Path) -> Path:
    (campaigns_dir / "pay.toml").write_text(PAY)
    return campaigns_dir


def add(profile: str, points: int, program: str = "wallet") -> None:
    code, _, err = refcamp(
        "loyalty", "add", profile, "--program", program, "--points", str(points), "--reason", "r"
    )
    assert code == 0, err


def session(server: Server, sid: str, state: str, **attributes: Any) -> dict[str, Any]:
    body = {
        "customerSession": {"profileId": "P", "state": state, "attributes": attributes},
        "responseContent": ["loyalty"],
    }
    reply = server.request("PUT", f"/v2/customer_sessions/{sid}", body)
    assert reply.status == 200, reply
    return reply.body


def ledger(state: dict[str, Any]) -> dict[str, int]:
    return state["loyalty"]["programs"][str(WALLET)]["ledger"]


def test_the_tentative_balance_includes_the_open_session(wallet: Path, served: Server) -> None:
    """LedgerInfo.tentativeCurrentBalance: "Sum of the tentative active points (including
    additions and deductions) inside the currently open session. The `currentBalance` is
    updated to this value when you close the session"."""
    add("P", 300)
    opened = ledger(session(served, "S1", "open", pay=True))
    assert opened["currentBalance"] == 300
    assert opened["tentativeCurrentBalance"] == 300 - 100 + 10
    assert opened["tentativePendingBalance"] == 0
    closed = ledger(session(served, "S1", "closed", pay=True))
    assert closed["currentBalance"] == closed["tentativeCurrentBalance"] == 210


def test_expired_and_spent_balance_are_shown_as_0(wallet: Path, served: Server) -> None:
    """LedgerInfo.expiredBalance and spentBalance: "**DEPRECATED** Value is shown as 0"; the live
    values are LoyaltyBalance's spentPoints and expiredPoints (getLoyaltyBalances)."""
    add("P", 300)
    shown = ledger(session(served, "S1", "closed", pay=True))
    assert (shown["spentBalance"], shown["expiredBalance"]) == (0, 0)
    inventory = served.request("GET", "/v1/customer_profiles/P/inventory?loyalty=true")
    held = inventory.body["loyalty"]["programs"][str(WALLET)]["ledger"]
    assert (held["currentBalance"], held["spentBalance"], held["expiredBalance"]) == (210, 0, 0)
    balances = served.request("GET", f"/v1/loyalty_programs/{WALLET}/profile/P/balances")
    assert balances.body["balance"]["spentPoints"] == 100
    assert balances.body["balance"]["activePoints"] == 210


def test_a_rollback_of_spent_points_owes_them_as_negative_points(
    wallet: Path, served: Server
) -> None:
    """LoyaltyBalance.negativePoints (talon_one.js docs/LoyaltyBalance.md): "Total amount of
    negative points. This implies that `activePoints` is `0`". Later points settle the debt."""
    session(served, "S1", "closed")  # +10 points a visit
    code, _, err = refcamp(
        "loyalty", "deduct", "P", "--program", "wallet", "--points", "10", "--reason", "spent"
    )
    assert code == 0, err
    session(served, "S1", "cancelled")  # takes back the 10 points already spent
    path = f"/v1/loyalty_programs/{WALLET}/profile/P/balances"
    owed = served.request("GET", path).body["balance"]
    assert (owed["activePoints"], owed["negativePoints"]) == (0, 10)
    add("P", 4)
    owed = served.request("GET", path).body["balance"]
    assert (owed["activePoints"], owed["negativePoints"]) == (0, 6)
    add("P", 10)
    settled = served.request("GET", path).body["balance"]
    assert settled["activePoints"] == 4 and "negativePoints" not in settled
    code, out, err = refcamp("db", "check")
    assert code == 0, (out, err)
