"""Session states and their transitions (NewCustomerSessionV2.state: "Sessions can be created as
`open` or `closed`. The state transitions are: 1. `open` → `closed` 2. `open` → `cancelled`
3. Either: `closed` → `cancelled` (only via Update customer session) or `closed` →
`partially_returned` (only via Return cart items) or `closed` → `open` (only via Reopen customer
session) 4. `partially_returned` → `cancelled`")."""

from __future__ import annotations

from typing import Any

from tests.serving import Server

ITEM = {"name": "Boots", "sku": "B1", "price": 100, "quantity": 2}


def put(server: Server, session_id: str, **fields: Any) -> Any:
    body = {"customerSession": {"profileId": "P", "cartItems": [ITEM], **fields}}
    return server.request("PUT", f"/v2/customer_sessions/{session_id}", body)


def state_of(server: Server, session_id: str) -> str:
    return server.request("GET", f"/v2/customer_sessions/{session_id}").body["customerSession"][
        "state"
    ]


def test_a_session_is_created_open_or_closed_never_cancelled(served: Server) -> None:
    assert put(served, "S-OPEN").status == 200
    assert put(served, "S-CLOSED", state="closed").status == 200
    assert (state_of(served, "S-OPEN"), state_of(served, "S-CLOSED")) == ("open", "closed")
    refused = put(served, "S-CANCELLED", state="cancelled")
    assert refused.status == 400, refused
    assert refused.body["errors"][0]["source"] == {"pointer": "/customerSession/state"}
    assert served.request("GET", "/v2/customer_sessions/S-CANCELLED").status == 404


def test_partially_returned_is_reached_only_by_a_return(served: Server) -> None:
    assert put(served, "S1", state="closed").status == 200
    refused = put(served, "S1", state="partially_returned")
    assert refused.status == 400 and "returns" in refused.body["message"], refused
    body = {"return": {"returnedCartItems": [{"position": 0, "quantity": 1}]}}
    assert served.request("POST", "/v2/customer_sessions/S1/returns", body).status == 200
    assert state_of(served, "S1") == "partially_returned"
    # 4. partially_returned -> cancelled
    assert put(served, "S1", state="cancelled").status == 200
    assert state_of(served, "S1") == "cancelled"


def test_a_closed_session_opens_again_only_by_reopen(served: Server) -> None:
    assert put(served, "S2", state="closed").status == 200
    refused = put(served, "S2", state="open")
    assert refused.status == 409 and "reopen" in refused.body["message"], refused
    assert state_of(served, "S2") == "closed"
    assert served.request("PUT", "/v2/customer_sessions/S2/reopen").status == 200
    assert state_of(served, "S2") == "open"


def test_open_goes_to_closed_or_cancelled_and_cancelled_is_final(served: Server) -> None:
    assert put(served, "S3").status == 200
    assert put(served, "S3", state="cancelled").status == 200
    for state in ("open", "closed"):
        refused = put(served, "S3", state=state)
        assert refused.status == 409 and "cancelled" in refused.body["message"], refused
    assert state_of(served, "S3") == "cancelled"
