"""Erasure (#23, item 6): after `DELETE /v1/customer_data/{id}` or `refcamp profile delete`, the
customer's integration id (an e-mail address, as ids often are) appears nowhere in the state but
where the README says it stays: as the key of the profile and of what points at it. Requests
logged through every door (HTTP accepted and refused, the CLI, replay), with the id in the path,
in the body and in messages, are searched for in every column of every table, on both engines."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import Run, open_state
from serving import Server, start

from refcamp.store.copy import tables

ALICE = "alice@example.com"
BOB = "bob@example.com"
ENCODED = quote(ALICE, safe="")  # alice%40example.com
CART = [{"sku": "sku-1", "name": "Scarf", "price": 40, "quantity": 1, "attributes": {}}]

# Where the id stays after erasure, as the README says ("profile delete"): the key of the
# customer's profile and of the rows that point at it (their sessions, events, ledger entries,
# code uses, codes, audiences, and the effects that booked their points), as Talon.One keeps the
# profile and everything it earned.
KEYS = {
    ("profiles", "id"),
    ("sessions", "profile_id"),
    ("sessions", "effects"),  # addLoyaltyPoints' recipientIntegrationId in a friend's session
    ("events", "profile_id"),
    ("ledger", "profile_id"),
    ("redemptions", "profile_id"),
    ("discounts", "profile_id"),
    ("referrals", "advocate_id"),
    ("referrals", "friend_id"),
    ("coupons", "recipient_id"),
    ("coupon_reservations", "profile_id"),
    ("audience_members", "profile_id"),
}


def places(where: str, *needles: str) -> set[tuple[str, str]]:
    """Every (table, column) of the state at `where` where any needle occurs in any row: every
    table, every column, as text."""
    found = set()
    with closing(open_state(where)) as conn:
        for table in sorted(tables(conn) | {"migrations"}):
            for row in conn.execute(f"SELECT * FROM {table}").fetchall():
                for column, value in dict(row).items():
                    text = value if isinstance(value, str) else repr(value)
                    if any(needle in text for needle in needles):
                        found.add((table, column))
    return found


def logged_texts(where: str) -> list[str]:
    with closing(open_state(where)) as conn:
        rows = conn.execute("SELECT * FROM requests ORDER BY id").fetchall()
    return [json.dumps([str(value) for value in row]) for row in rows]


@pytest.fixture
def server(run: Run, campaigns_dir: Path) -> Iterator[Server]:
    assert run("campaign", "activate", "medium-referral").exit_code == 0
    running = start()
    yield running
    running.stop()


def through_http(server: Server) -> str:
    """Alice's requests over HTTP, accepted and refused, with her id in the path, the body and
    messages; Bob's beside them. Returns her referral code."""
    put = server.request
    registered = put(
        "PUT",
        f"/v2/customer_profiles/{ENCODED}?runRuleEngine=true",
        {"attributes": {"Name": "Alice"}},
    )
    assert registered.status == 200, registered
    code = registered.body["createdReferrals"][0]["code"]
    closed = put(
        "PUT",
        "/v2/customer_sessions/S-ALICE-1",
        {"customerSession": {"profileId": ALICE, "state": "closed", "cartItems": CART}},
    )
    assert closed.status == 200, closed
    assert put("PUT", f"/v2/customer_profiles/{BOB}?runRuleEngine=true", {}).status == 200
    # Refused: the id in the path (a bad flag), in the body, and in a message about Bob's event.
    assert put("PUT", f"/v2/customer_profiles/{ENCODED}?runRuleEngine=maybe", {}).status == 400
    bad_cart = {"customerSession": {"profileId": ALICE, "cartItems": [{"price": "abc"}]}}
    assert put("PUT", "/v2/customer_sessions/S-BAD", bad_cart).status == 400
    event = {"type": "review", "profileId": BOB, "sessionId": "S-ALICE-1"}
    refused = put("POST", "/v2/events", event)
    assert refused.status >= 400 and ALICE in refused.body["message"], refused
    # Refused, about her session (the path names only the session).
    assert put("PUT", "/v2/customer_sessions/S-ALICE-1", raw=b"{").status == 400
    # A friend brings her code: the friend's request names her in its effects.
    friend = {"customerSession": {"profileId": "FRIEND", "state": "closed", "referralCode": code}}
    assert put("PUT", "/v2/customer_sessions/S-FRIEND", friend).status == 200
    # An erasure of an id that does not exist, whose 404 suggests hers.
    wrong = put("DELETE", f"/v1/customer_data/{ENCODED.upper()}")
    assert wrong.status == 404 and ALICE in wrong.body["message"], wrong
    return code


def through_cli_and_replay(run: Run, tmp_path: Path) -> None:
    assert run("profile", "update", ALICE, "--attr", f"email={ALICE}").exit_code == 0
    assert run("session", "close", "S-ALICE-2", "--profile", ALICE).exit_code == 0
    assert run("profile", "update", BOB).exit_code == 0
    lines = [
        {"path": f"/v2/customer_profiles/{ENCODED}", "body": {"attributes": {"City": "Berlin"}}},
        {"path": f"/v2/customer_profiles/{ALICE}", "query": {"runRuleEngine": "true"}, "body": {}},
        {
            "path": "/v2/customer_sessions/S-ALICE-3",
            "body": {"customerSession": {"profileId": ALICE}},
        },
        {"path": "/v2/events", "body": {"type": "visit", "profileId": ALICE}},
        {"path": "/v2/customer_profiles/R-BOB", "body": {}},
    ]
    log = tmp_path / "traffic.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert run("replay", str(log)).exit_code == 0


def assert_erased(where: str, code: str) -> None:
    needles = (ALICE, ENCODED, ENCODED.lower(), "Alice", "Berlin")
    kept = places(where, *needles)
    assert kept <= KEYS, sorted(kept - KEYS)
    assert ("profiles", "id") in kept  # the profile stays, as in Talon.One
    # Nothing in the request log names her, her sessions or her code...
    texts = logged_texts(where)
    for needle in (*needles, "S-ALICE-1", "S-ALICE-2", "S-ALICE-3", code):
        assert not any(needle in text for text in texts), (needle, texts)
    # ...while Bob's requests, through every door, are still there, and the erasure itself.
    assert any(f"/v2/customer_profiles/{BOB}" in t and '"http"' in t for t in texts), texts
    assert any(f"/v2/customer_profiles/{quote(BOB, safe='')}" in t for t in texts), texts
    assert any("/v2/customer_profiles/R-BOB" in t for t in texts), texts
    assert any("/v1/customer_data/{integrationId}" in t for t in texts), texts


@pytest.mark.slow
@pytest.mark.parametrize("door", ["http", "cli"])
def test_after_erasure_the_id_is_nowhere_but_the_keys(
    server: Server, run: Run, tmp_path: Path, door: str
) -> None:
    code = through_http(server)
    through_cli_and_replay(run, tmp_path)
    where = os.environ["REFCAMP_DB"]
    assert ("requests", "path") in places(where, ALICE, ENCODED)  # there before
    if door == "http":
        erased = server.request("DELETE", f"/v1/customer_data/{ENCODED}")
        assert erased.status == 204, erased
    else:
        result = run("profile", "delete", ALICE)
        assert result.exit_code == 0, result
    # The customer is still there, without her attributes; her points still count.
    inventory = server.request("GET", f"/v1/customer_profiles/{ENCODED}/inventory?profile=true")
    assert inventory.status == 200 and inventory.body["profile"]["attributes"] == {}
    server.stop()
    assert_erased(where, code)


@pytest.mark.slow
def test_entries_waiting_for_the_lock_are_erased_too(server: Server) -> None:
    """A refused request logged while another process held the write lock waits for the next
    group; an erasure in that group must not let it in afterwards."""
    assert server.request("PUT", f"/v2/customer_profiles/{ENCODED}", {}).status == 200
    holder: Any = open_state(os.environ["REFCAMP_DB"])
    holder.execute("BEGIN IMMEDIATE")
    try:
        bad = server.request("PUT", f"/v2/customer_profiles/{ENCODED}?runRuleEngine=x", {})
        assert bad.status == 400
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert server.request("DELETE", f"/v1/customer_data/{ENCODED}").status == 204
    server.stop()
    texts = logged_texts(os.environ["REFCAMP_DB"])
    assert texts and not any(ALICE in t or ENCODED in t for t in texts), texts


@pytest.mark.slow
def test_erasing_p1_leaves_p10_in_the_log(server: Server) -> None:
    """The log forgets whatever names the customer, not whatever merely contains the id."""
    for name in ("P1", "P10"):
        assert server.request("PUT", f"/v2/customer_profiles/{name}", {}).status == 200
    assert server.request("DELETE", "/v1/customer_data/P1").status == 204
    server.stop()
    texts = logged_texts(os.environ["REFCAMP_DB"])
    assert any("/v2/customer_profiles/P10" in t for t in texts), texts
    assert not any('/v2/customer_profiles/P1"' in t for t in texts), texts
