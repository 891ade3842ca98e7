"""The seed story (MEDIUM-REFERRAL: generate and redeem a referral code) through the CLI.

A customer who registers gets a referral code; a friend who closes a session with it earns the
advocate 100 points and themselves 50. Every test starts from a fresh state file (conftest).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import program_of, stored_entry, talon_id

Run = Callable[..., Any]  # conftest's `run` fixture

# The CLI door's story, on both engines in the default run too (the others in `--full`).
pytestmark = pytest.mark.both_engines

CAMPAIGN = "medium-referral"
CODE_SHAPE = re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$")
CODE_CHARACTERS = set("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
EFFECT_KEYS = {"campaignId", "rulesetId", "ruleIndex", "ruleName", "effectType", "props"}
UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --- helpers -------------------------------------------------------------------------------------


def register(run: Run, profile: str = "NEWCUSTOMER") -> str:
    """Register a customer and return the referral code it got."""
    result = run("profile", "update", profile, "-q")
    assert result.exit_code == 0, result
    code = result.stdout.strip()
    assert CODE_SHAPE.match(code), result
    return code


def close(run: Run, *args: str) -> Any:
    """`session close ... --json`, asserting success; returns the JSON response."""
    result = run("session", "close", *args, "--json")
    assert result.exit_code == 0, result
    return result.json


def types(response: Any) -> list[str]:
    return [e["effectType"] for e in response["effects"]]


def points(run: Run, profile: str) -> int:
    """The current sample-wallet balance of a profile that exists."""
    result = run("loyalty", "balance", profile, "--json")
    assert result.exit_code == 0, result
    return program_of(result.json, "sample-wallet")["ledger"]["currentBalance"]


def ledger(run: Run, profile: str) -> list[dict[str, Any]]:
    result = run("loyalty", "ledger", profile, "--json")
    assert result.exit_code == 0, result
    assert result.json["hasMore"] is False
    return result.json["data"]


def usage_counter(run: Run, code: str) -> int:
    result = run("referral", "show", code, "--json")
    assert result.exit_code == 0, result
    return result.json["usageCounter"]


def wallet(run: Run, balance: int) -> dict[str, Any]:
    """The Loyalty object of a customer whose only points are `balance` current sample-wallet
    points."""
    program = talon_id(run, "program", "sample-wallet")
    return {
        "programs": {
            str(program): {
                "id": program,
                "title": "Sample wallet",
                "name": "sample-wallet",
                "ledger": {
                    "currentBalance": balance,
                    "pendingBalance": 0,
                    "expiredBalance": 0,
                    "spentBalance": 0,
                    "tentativeCurrentBalance": balance,
                    "tentativePendingBalance": 0,
                },
            }
        }
    }


def rejection(response: Any) -> dict[str, Any]:
    """The one rejectReferral effect of a response that must have no other effect."""
    assert types(response) == ["rejectReferral"], response["effects"]
    return response["effects"][0]["props"]


def seed_body(code: str, state: str) -> str:
    """The seed tutorial's request body, with a real code and the state asked for."""
    return json.dumps(
        {
            "customerSession": {
                "profileId": "673TGNRP35",
                "state": state,
                "cartItems": [
                    {
                        "name": "ProductC",
                        "sku": "sku-00004",
                        "quantity": 1,
                        "price": 100,
                        "Category": "Accessories",
                        "weight": 0,
                        "position": 0,
                        "attributes": {},
                    }
                ],
                "couponCodes": [],
                "referralCode": code,
                "attributes": {},
                "additionalCosts": {},
            },
            "responseContent": [],
        }
    )


# --- 1-3: registering creates a code -------------------------------------------------------------


def test_update_before_activation_has_no_effects_and_says_how_to_activate(run: Run) -> None:
    result = run("profile", "update", "NEWCUSTOMER")
    assert result.exit_code == 0, result
    assert "No effects." in result.stdout
    assert "No running campaign reacted" in result.stderr
    assert "refcamp campaign activate medium-referral" in result.stderr


def test_update_before_activation_json_has_no_effects(run: Run) -> None:
    result = run("profile", "update", "NEWCUSTOMER", "--json")
    assert result.exit_code == 0, result
    assert result.json["effects"] == []
    assert result.json["createdReferrals"] == []


def test_registration_creates_one_referral_code(active: Run) -> None:
    result = active("profile", "update", "NEWCUSTOMER", "--json")
    assert result.exit_code == 0, result
    effects = result.json["effects"]
    assert len(effects) == 1
    effect = effects[0]
    assert set(effect) == EFFECT_KEYS
    assert effect["effectType"] == "referralCreated"
    assert effect["campaignId"] == talon_id(active, "campaign", CAMPAIGN)
    code = effect["props"]["value"]
    assert CODE_SHAPE.match(code)
    assert set(code.replace("-", "")) <= CODE_CHARACTERS


def test_registration_lists_the_created_referral(active: Run) -> None:
    data = active("profile", "update", "NEWCUSTOMER", "--json").json
    code = data["effects"][0]["props"]["value"]
    assert len(data["createdReferrals"]) == 1
    referral = data["createdReferrals"][0]
    assert referral["code"] == code
    assert referral["campaignId"] == talon_id(active, "campaign", CAMPAIGN)
    assert referral["advocateProfileIntegrationId"] == "NEWCUSTOMER"
    assert referral["usageLimit"] == 0
    assert referral["usageCounter"] == 0
    assert "created" in referral
    # no friend, start or expiry: Talon.One leaves the optional fields out rather than null
    for key in ("friendProfileIntegrationId", "startDate", "expiryDate"):
        assert key not in referral


def test_quiet_registration_prints_only_the_code(active: Run) -> None:
    result = active("profile", "update", "NEWCUSTOMER", "-q")
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert CODE_SHAPE.match(lines[0])


def test_second_update_of_the_same_profile_creates_no_code(active: Run) -> None:
    code = register(active)
    again = active("profile", "update", "NEWCUSTOMER", "--json")
    assert again.exit_code == 0, again
    assert again.json["effects"] == []
    assert again.json["createdReferrals"] == []
    quiet = active("profile", "update", "NEWCUSTOMER", "-q")
    assert quiet.exit_code == 0, quiet
    assert quiet.stdout == ""
    codes = active("referral", "list", "--json").json
    assert [r["code"] for r in codes] == [code]


# --- 4-5: a friend redeems the code --------------------------------------------------------------


def test_friend_closing_with_the_code_gets_accept_and_points(active: Run) -> None:
    code = register(active)
    effects = close(active, "--profile", "FRIEND1", "--referral", code)["effects"]
    assert [e["effectType"] for e in effects] == [
        "acceptReferral",
        "addLoyaltyPoints",
        "addLoyaltyPoints",
    ]
    assert all(set(e) == EFFECT_KEYS for e in effects)
    assert effects[0]["props"]["value"] == code
    advocate, friend = effects[1]["props"], effects[2]["props"]
    assert advocate["recipientIntegrationId"] == "NEWCUSTOMER"
    assert advocate["value"] == 100
    assert advocate["name"] == "100 Bonus points for Advocate"
    wallet_id = talon_id(active, "program", "sample-wallet")
    assert advocate["programId"] == wallet_id
    assert advocate["subLedgerId"] == ""
    assert isinstance(advocate["transactionUUID"], str)
    assert UUID_SHAPE.match(advocate["transactionUUID"])
    assert friend["recipientIntegrationId"] == "FRIEND1"
    assert friend["value"] == 50
    assert friend["name"] == "50 Bonus points for Friend"
    assert friend["programId"] == wallet_id
    assert isinstance(friend["transactionUUID"], str)
    assert friend["transactionUUID"] != advocate["transactionUUID"]


def test_redemption_in_words(active: Run) -> None:
    code = register(active)
    result = active("session", "close", "--profile", "FRIEND1", "--referral", code)
    assert result.exit_code == 0, result
    assert f"referral code {code} accepted" in result.stdout
    assert "+100 points for NEWCUSTOMER in sample-wallet" in result.stdout
    assert "+50 points for FRIEND1 in sample-wallet" in result.stdout
    assert "Customer Session Closing" in result.stderr


def test_redemption_books_balances(active: Run) -> None:
    code = register(active)
    close(active, "--profile", "FRIEND1", "--referral", code)
    advocate = active("loyalty", "balance", "NEWCUSTOMER", "--json")
    assert advocate.exit_code == 0, advocate
    assert advocate.json == wallet(active, 100)
    friend = active("loyalty", "balance", "FRIEND1", "--json")
    assert friend.exit_code == 0, friend
    assert friend.json == wallet(active, 50)


def test_redemption_counts_one_use_of_the_code(active: Run) -> None:
    code = register(active)
    close(active, "--profile", "FRIEND1", "--referral", code)
    assert usage_counter(active, code) == 1


def test_redemption_writes_a_ledger_entry_for_the_advocate(active: Run) -> None:
    code = register(active)
    response = close(active, "--profile", "FRIEND1", "--referral", code)
    session_id = response["customerSession"]["integrationId"]
    effect = response["effects"][1]
    entries = ledger(active, "NEWCUSTOMER")
    assert len(entries) == 1
    entry = entries[0]
    assert entry["type"] == "addition"
    assert entry["amount"] == 100
    assert entry["programId"] == talon_id(active, "program", "sample-wallet")
    # Talon.One's transaction names no transactionUUID or campaign: the state file's row does,
    # and the transaction names the effect's rule and the campaign's ruleset
    stored = stored_entry(active, entry["id"])
    assert stored["transaction_uuid"] == effect["props"]["transactionUUID"]
    assert stored["campaign_id"] == CAMPAIGN
    assert entry["name"] == effect["props"]["name"] == "100 Bonus points for Advocate"
    assert entry["ruleName"] == effect["ruleName"]
    assert entry["rulesetId"] == effect["rulesetId"] == talon_id(active, "ruleset", CAMPAIGN)
    assert entry["customerSessionId"] == session_id
    assert isinstance(entry["created"], str) and entry["created"]


def test_second_friend_can_redeem_the_same_code(active: Run) -> None:
    code = register(active)
    close(active, "--profile", "FRIEND1", "--referral", code)
    second = close(active, "--profile", "FRIEND2", "--referral", code)
    assert types(second) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert points(active, "NEWCUSTOMER") == 200
    assert points(active, "FRIEND1") == 50
    assert points(active, "FRIEND2") == 50
    assert usage_counter(active, code) == 2


# --- 6-8: rejected codes book nothing ------------------------------------------------------------


def test_advocate_cannot_redeem_their_own_code(active: Run) -> None:
    code = register(active)
    props = rejection(close(active, "--profile", "NEWCUSTOMER", "--referral", code))
    assert props["value"] == code
    assert props["rejectionReason"] == "ReferralRecipientIdSameAsAdvocate"
    assert points(active, "NEWCUSTOMER") == 0
    assert ledger(active, "NEWCUSTOMER") == []
    assert usage_counter(active, code) == 0


def test_unknown_code_is_rejected_and_books_nothing(active: Run) -> None:
    register(active)
    props = rejection(close(active, "--profile", "FRIEND1", "--referral", "NOPE-NOPE"))
    assert props["value"] == "NOPE-NOPE"
    assert props["rejectionReason"] == "ReferralNotFound"
    assert points(active, "FRIEND1") == 0
    assert ledger(active, "FRIEND1") == []
    assert points(active, "NEWCUSTOMER") == 0


def test_balance_of_an_unknown_profile_exits_1(active: Run) -> None:
    result = active("loyalty", "balance", "NOBODY", "--json")
    assert result.exit_code == 1
    assert "NOBODY" in result.stderr
    assert result.stdout == ""


def test_anonymous_session_with_a_valid_code_is_rejected(active: Run) -> None:
    code = register(active)
    response = close(active, "--anonymous", "--referral", code)
    props = rejection(response)
    assert props["rejectionReason"] == "ReferralRecipientDoesNotMatch"  # Talon.One's reason
    assert response["customerSession"]["profileId"] == ""
    assert points(active, "NEWCUSTOMER") == 0
    assert usage_counter(active, code) == 0


# --- 9: dry runs save nothing --------------------------------------------------------------------


def test_dry_run_close_shows_effects_but_books_nothing(active: Run) -> None:
    code = register(active)
    result = active(
        "session", "close", "--profile", "FRIEND1", "--referral", code, "--dry-run", "--json"
    )
    assert result.exit_code == 0, result
    data = result.json
    assert types(data) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert data["effects"][0]["props"]["value"] == code
    assert [e["props"]["value"] for e in data["effects"][1:]] == [100, 50]
    assert data["dryRun"] is True
    session_id = data["customerSession"]["integrationId"]

    assert points(active, "NEWCUSTOMER") == 0
    assert usage_counter(active, code) == 0
    assert active("session", "show", session_id).exit_code == 1
    assert active("loyalty", "balance", "FRIEND1").exit_code == 1  # FRIEND1 was not saved


def test_dry_run_registration_shows_a_code_but_saves_nothing(active: Run) -> None:
    result = active("profile", "update", "NEW2", "--dry-run", "--json")
    assert result.exit_code == 0, result
    assert types(result.json) == ["referralCreated"]
    code = result.json["effects"][0]["props"]["value"]
    assert CODE_SHAPE.match(code)
    listed = active("referral", "list", "--json")
    assert listed.exit_code == 0, listed
    assert code not in [r["code"] for r in listed.json]
    assert active("referral", "show", code).exit_code == 1
    assert active("profile", "show", "NEW2").exit_code == 1


def test_dry_run_says_nothing_was_saved(active: Run) -> None:
    result = active("profile", "update", "NEW2", "--dry-run")
    assert result.exit_code == 0, result
    assert "Dry run: nothing was saved." in result.stderr


# --- 10-11: open and closed sessions -------------------------------------------------------------


def test_open_session_books_nothing(active: Run) -> None:
    code = register(active)
    result = active("session", "update", "S1", "--profile", "FRIEND1", "--referral", code, "--json")
    assert result.exit_code == 0, result
    assert "addLoyaltyPoints" not in types(result.json)
    assert result.json["customerSession"]["state"] == "open"
    assert points(active, "NEWCUSTOMER") == 0
    assert points(active, "FRIEND1") == 0
    assert usage_counter(active, code) == 0


def test_open_session_says_the_rule_needs_the_session_to_close(active: Run) -> None:
    code = register(active)
    data = active(
        "session", "update", "S1", "--profile", "FRIEND1", "--referral", code, "--json"
    ).json
    props = rejection(data)
    assert props["value"] == code
    assert props["rejectionReason"] == "ReferralRejectedByCondition"
    reasons = [
        r for r in data["ruleFailureReasons"] if r["ruleName"] == "Friend redeems referral code"
    ]
    assert len(reasons) == 1
    assert "Customer Session Closing" in reasons[0]["details"]
    assert reasons[0]["referralValue"] == code


def test_dry_run_close_of_an_open_session_leaves_it_open(active: Run) -> None:
    code = register(active)
    assert (
        active("session", "update", "S1", "--profile", "FRIEND1", "--referral", code).exit_code == 0
    )
    dry = active("session", "close", "S1", "--dry-run", "--json")
    assert dry.exit_code == 0, dry
    assert types(dry.json) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert active("session", "show", "S1", "--json").json["customerSession"]["state"] == "open"
    assert points(active, "NEWCUSTOMER") == 0
    assert usage_counter(active, code) == 0
    assert types(close(active, "S1")) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert points(active, "NEWCUSTOMER") == 100


def test_closing_an_open_session_keeps_its_profile_and_code_and_books(active: Run) -> None:
    code = register(active)
    opened = active("session", "update", "S1", "--profile", "FRIEND1", "--referral", code)
    assert opened.exit_code == 0, opened
    response = close(active, "S1")
    assert types(response) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    session = response["customerSession"]
    assert session["integrationId"] == "S1"
    assert session["profileId"] == "FRIEND1"
    assert session["referralCode"] == code
    assert session["state"] == "closed"
    assert "generated" not in response
    assert points(active, "NEWCUSTOMER") == 100
    assert points(active, "FRIEND1") == 50
    assert usage_counter(active, code) == 1


def test_closing_a_closed_session_again_awards_nothing(active: Run) -> None:
    code = register(active)
    close(active, "S1", "--profile", "FRIEND1", "--referral", code)
    again = active("session", "close", "S1", "--json")
    assert again.exit_code == 0, again
    assert again.json["effects"] == []
    assert "already closed" in again.stderr
    assert points(active, "NEWCUSTOMER") == 100
    assert points(active, "FRIEND1") == 50
    assert usage_counter(active, code) == 1


def test_closing_a_closed_session_again_says_so_in_text(active: Run) -> None:
    code = register(active)
    close(active, "S1", "--profile", "FRIEND1", "--referral", code)
    again = active("session", "close", "S1")
    assert again.exit_code == 0, again
    assert "already closed" in again.stderr
    assert "No effects." in again.stdout
    assert points(active, "NEWCUSTOMER") == 100


# --- 12: generated customers and sessions --------------------------------------------------------


def test_close_without_profile_creates_a_customer_who_gets_the_friend_points(active: Run) -> None:
    code = register(active)
    response = close(active, "--referral", code)
    generated = response["generated"]
    assert set(generated) == {"profile", "session"}
    friend = generated["profile"]
    assert response["customerSession"]["integrationId"] == generated["session"]
    assert response["customerSession"]["profileId"] == friend
    assert response["effects"][2]["props"]["recipientIntegrationId"] == friend
    assert points(active, friend) == 50
    assert points(active, "NEWCUSTOMER") == 100


def test_quiet_close_prints_only_the_generated_session_id(active: Run) -> None:
    code = register(active)
    result = active("session", "close", "--referral", code, "-q")
    assert result.exit_code == 0, result
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    session_id = lines[0]
    shown = active("session", "show", session_id, "--json")
    assert shown.exit_code == 0, shown
    session = shown.json["customerSession"]
    assert session["state"] == "closed"
    assert session["referralCode"] == code
    assert points(active, session["profileId"]) == 50


# --- 13: the seed's JSON body --------------------------------------------------------------------


def test_seed_body_from_a_file_reads_category_case_insensitively(
    active: Run, tmp_path: Path
) -> None:
    code = register(active)
    body = tmp_path / "body.json"
    body.write_text(seed_body(code, "open"))
    result = active("session", "update", "SEED1", "--payload", str(body), "--json")
    assert result.exit_code == 0, result
    session = result.json["customerSession"]
    assert session["profileId"] == "673TGNRP35"
    assert session["state"] == "open"
    assert session["referralCode"] == code
    assert session["cartItems"][0]["category"] == "Accessories"
    assert session["cartItems"][0]["sku"] == "sku-00004"
    assert session["total"] == 100
    assert "addLoyaltyPoints" not in types(result.json)
    assert points(active, "673TGNRP35") == 0


def test_seed_body_closed_from_a_file_books_points(active: Run, tmp_path: Path) -> None:
    code = register(active)
    body = tmp_path / "body.json"
    body.write_text(seed_body(code, "closed"))
    result = active("session", "update", "SEED1", "--payload", str(body), "--json")
    assert result.exit_code == 0, result
    assert types(result.json) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert result.json["customerSession"]["cartItems"][0]["category"] == "Accessories"
    assert points(active, "673TGNRP35") == 50
    assert points(active, "NEWCUSTOMER") == 100


def test_seed_body_closed_on_stdin_books_points(active: Run) -> None:
    code = register(active)
    result = active(
        "session", "update", "SEED1", "--payload", "-", "--json", input=seed_body(code, "closed")
    )
    assert result.exit_code == 0, result
    session = result.json["customerSession"]
    assert session["state"] == "closed"
    assert session["cartItems"][0]["category"] == "Accessories"
    assert session["total"] == 100
    assert types(result.json) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert points(active, "673TGNRP35") == 50
    assert points(active, "NEWCUSTOMER") == 100


def test_session_close_with_the_open_seed_body_closes_and_books(active: Run) -> None:
    code = register(active)
    result = active(
        "session", "close", "SEED1", "--payload", "-", "--json", input=seed_body(code, "open")
    )
    assert result.exit_code == 0, result
    assert result.json["customerSession"]["state"] == "closed"
    assert points(active, "673TGNRP35") == 50


# --- 14: reading state back ----------------------------------------------------------------------


def test_session_show_json(active: Run) -> None:
    code = register(active)
    close(
        active,
        "S1",
        "--profile",
        "FRIEND1",
        "--referral",
        code,
        "--item",
        "sku=sku-00004,name=ProductC,price=100,quantity=2,category=Accessories",
    )
    result = active("session", "show", "S1", "--json")
    assert result.exit_code == 0, result
    data = result.json["customerSession"]
    assert data["integrationId"] == "S1"
    assert data["profileId"] == "FRIEND1"
    assert data["state"] == "closed"
    assert data["referralCode"] == code
    assert data["cartItems"][0]["sku"] == "sku-00004"
    assert data["cartItems"][0]["quantity"] == 2
    assert data["total"] == 200


def test_profile_show_json_includes_loyalty_and_referral_codes(active: Run) -> None:
    code = register(active)
    close(active, "--profile", "FRIEND1", "--referral", code)
    advocate = active("profile", "show", "NEWCUSTOMER", "--json")
    assert advocate.exit_code == 0, advocate
    assert advocate.json["profile"]["integrationId"] == "NEWCUSTOMER"
    assert [r["code"] for r in advocate.json["referrals"]] == [code]
    assert advocate.json["loyalty"] == wallet(active, 100)
    friend = active("profile", "show", "FRIEND1", "--json")
    assert friend.exit_code == 0, friend
    assert friend.json["referrals"] == []
    assert friend.json["loyalty"] == wallet(active, 50)
    assert friend.json["profile"]["closedSessions"] == 1


def test_referral_list_filters_by_advocate(active: Run) -> None:
    mine = register(active, "NEWCUSTOMER")
    register(active, "OTHER")
    result = active("referral", "list", "--advocate", "NEWCUSTOMER", "--json")
    assert result.exit_code == 0, result
    assert [r["code"] for r in result.json] == [mine]
    assert result.json[0]["advocateProfileIntegrationId"] == "NEWCUSTOMER"
    assert len(active("referral", "list", "--json").json) == 2


def brief(campaign: dict[str, Any]) -> dict[str, Any]:
    """What a test checks of a Talon.One Campaign that `campaign list/activate --json` shows."""
    return {key: campaign[key] for key in ("id", "name", "state", "features", "refcamp")}


def test_campaign_list_json(run: Run) -> None:
    before = run("campaign", "list", "--json")
    assert before.exit_code == 0, before
    # a fresh state file numbers the campaigns 1, 2, ... in catalog order
    assert [brief(c) for c in before.json] == [
        {
            "id": 1,
            "name": "MEDIUM-REFERRAL: Generate and redeem a referral code",
            "state": "disabled",
            "features": ["referrals", "loyalty"],
            "refcamp": {"id": CAMPAIGN},
        },
        {
            "id": 2,
            "name": "SPRING: a welcome coupon for 10% off carts of 50 or more",
            "state": "disabled",
            "features": ["coupons"],
            "refcamp": {"id": "spring-coupons"},
        },
    ]
    assert run("campaign", "activate", CAMPAIGN).exit_code == 0
    after = {c["refcamp"]["id"]: c["state"] for c in run("campaign", "list", "--json").json}
    assert after == {CAMPAIGN: "enabled", "spring-coupons": "disabled"}


def test_campaign_show_reads_the_rules_in_words(run: Run) -> None:
    result = run("campaign", "show", CAMPAIGN)
    assert result.exit_code == 0, result
    assert "Customer Session Closing" in result.stdout
    assert "the referral code is valid" in result.stdout
    assert "add 100 points" in result.stdout
    assert "add 50 points" in result.stdout
    assert "Customer Profile Registration" in result.stdout


def test_deactivated_campaign_awards_nothing(active: Run) -> None:
    code = register(active)
    result = active("campaign", "deactivate", CAMPAIGN)
    assert result.exit_code == 0, result
    assert "enabled -> disabled" in result.stdout
    response = close(active, "--profile", "FRIEND1", "--referral", code)
    assert "addLoyaltyPoints" not in types(response)
    assert "acceptReferral" not in types(response)
    assert points(active, "NEWCUSTOMER") == 0
    assert points(active, "FRIEND1") == 0
    assert usage_counter(active, code) == 0


def test_deactivated_campaign_creates_no_code(active: Run) -> None:
    assert active("campaign", "deactivate", CAMPAIGN).exit_code == 0
    result = active("profile", "update", "LATECOMER", "--json")
    assert result.exit_code == 0, result
    assert result.json["effects"] == []


@pytest.mark.stateless
def test_loyalty_programs_json(run: Run) -> None:
    result = run("loyalty", "programs", "--json")
    assert result.exit_code == 0, result
    assert len(result.json) == 1
    program = result.json[0]
    assert program["id"] == "sample-wallet"
    assert program["name"] == "Sample wallet"
    assert program["defaultPending"] == "immediate"
    assert program["defaultValidity"] == "unlimited"


@pytest.mark.sqlite_only  # the default file (tests/test_postgres.py: a URL)
def test_db_path_prints_refcamp_db(run: Run, isolated: Path) -> None:
    result = run("db", "path")
    assert result.exit_code == 0, result
    assert result.stdout.strip() == str(isolated / "state.db")


@pytest.mark.stateless
def test_db_path_honours_the_db_option(run: Run, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    result = run("--db", str(other), "db", "path")
    assert result.exit_code == 0, result
    assert result.stdout.strip() == str(other)


def test_db_option_keeps_state_apart(run: Run, tmp_path: Path) -> None:
    other = str(tmp_path / "other.db")
    assert run("--db", other, "campaign", "activate", CAMPAIGN).exit_code == 0
    assert run("--db", other, "profile", "update", "NEWCUSTOMER").exit_code == 0
    assert run("--db", other, "profile", "show", "NEWCUSTOMER").exit_code == 0
    assert run("profile", "show", "NEWCUSTOMER").exit_code == 1


# --- 15-18: demo, explain, seed, module entry point ----------------------------------------------


@pytest.mark.stateless
def test_demo_tells_the_story_without_touching_the_state_file(run: Run, isolated: Path) -> None:
    result = run("demo")
    assert result.exit_code == 0, result
    codes = re.findall(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}\b", result.stdout)
    assert codes, result.stdout
    assert re.search(r"NEWCUSTOMER\W+sample-wallet\W+100\b", result.stdout), result.stdout
    assert re.search(r"FRIEND1\W+sample-wallet\W+50\b", result.stdout), result.stdout
    assert not (isolated / "state.db").exists()


@pytest.mark.stateless
def test_demo_json_reports_the_balances(run: Run, isolated: Path) -> None:
    result = run("demo", "--json")
    assert result.exit_code == 0, result
    steps = result.json["steps"]
    assert steps[-1]["balances"] == {"NEWCUSTOMER": 100, "FRIEND1": 50}
    assert not (isolated / "state.db").exists()


def test_explain_shows_the_failing_condition_and_what_was_seen(active: Run) -> None:
    register(active)
    result = active(
        "session", "close", "--profile", "FRIEND1", "--referral", "NOPE-NOPE", "--explain"
    )
    assert result.exit_code == 0, result
    text = result.stdout
    assert "Why" in text
    assert "the referral code is valid" in text
    assert "NOPE-NOPE" in text
    assert "ReferralNotFound" in text


def test_explain_json_includes_the_trace(active: Run) -> None:
    register(active)
    result = active(
        "session", "close", "--profile", "FRIEND1", "--referral", "NOPE-NOPE", "--explain", "--json"
    )
    assert result.exit_code == 0, result
    rules = result.json["explanation"]["rules"]
    redeem = next(r for r in rules if r["ruleName"] == "Friend redeems referral code")
    assert redeem["fired"] is False
    failed = [c for c in redeem["conditions"] if not c["passed"]]
    assert failed[0]["condition"] == "the referral code is valid"
    assert "NOPE-NOPE" in failed[0]["seen"]


@pytest.mark.stateless
def test_seed_makes_codes_reproducible(run: Run, tmp_path: Path) -> None:
    env = {"REFCAMP_SEED": "42"}
    codes = []
    for name in ("one.db", "two.db"):
        db = str(tmp_path / name)
        assert run("--db", db, "campaign", "activate", CAMPAIGN).exit_code == 0
        result = run("--db", db, "profile", "update", "A", "-q", env=env)
        assert result.exit_code == 0, result
        assert "predictable" in result.stderr
        codes.append(result.stdout.strip())
    assert CODE_SHAPE.match(codes[0])
    assert codes[0] == codes[1]


def test_without_seed_no_predictability_note(active: Run) -> None:
    result = active("profile", "update", "A", "-q")
    assert result.exit_code == 0, result
    assert "predictable" not in result.stderr


@pytest.mark.stateless
def test_python_m_refcamp_version() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REFCAMP_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "refcamp", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refcamp ")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [["profile", "update", "X"], ["session", "close"]])
def test_nothing_running_mentions_activation_for_sessions_too(run: Run, command: list[str]) -> None:
    result = run(*command)
    assert result.exit_code == 0, result
    assert "No running campaign reacted" in result.stderr
    assert "refcamp campaign activate medium-referral" in result.stderr


@pytest.mark.sqlite_only  # the default file (tests/test_postgres.py: a URL)
def test_db_path_json_says_where_and_whether_it_exists(run: Run, isolated: Path) -> None:
    data = run("db", "path", "--json").json
    assert data == {"path": str(isolated / "state.db"), "exists": False}
    assert run("campaign", "list").exit_code == 0  # opens, so creates, the state file
    assert run("db", "path", "--json").json["exists"] is True


def test_activate_and_deactivate_json(run: Run) -> None:
    on = run("campaign", "activate", CAMPAIGN, "--json")
    assert on.exit_code == 0, on
    assert brief(on.json) == {
        "id": talon_id(run, "campaign", CAMPAIGN),
        "name": "MEDIUM-REFERRAL: Generate and redeem a referral code",
        "state": "enabled",
        "features": ["referrals", "loyalty"],
        "refcamp": {"id": CAMPAIGN},
    }
    assert run("campaign", "deactivate", CAMPAIGN, "--json").json["state"] == "disabled"
    again = run("campaign", "deactivate", CAMPAIGN)
    assert again.stdout.strip() == f"{CAMPAIGN} was already disabled."


def test_campaign_show_json_reads_rules_in_words(run: Run) -> None:
    data = run("campaign", "show", CAMPAIGN, "--json").json
    assert data["refcamp"]["id"] == CAMPAIGN and data["state"] == "disabled"
    assert data["id"] == talon_id(run, "campaign", CAMPAIGN)
    assert data["refcamp"]["ruleset"].startswith(f"{CAMPAIGN}@")
    assert data["activeRulesetId"] == talon_id(run, "ruleset", data["refcamp"]["ruleset"])
    rules = data["refcamp"]["rules"]
    assert [r["name"] for r in rules] == [
        "Generate a referral code",
        "Friend redeems referral code",
    ]
    assert rules[1]["words"] == (
        "When the referral code is valid and Customer Session Closing, then add 100 points to "
        "the advocate in sample-wallet ('100 Bonus points for Advocate') and add 50 points to "
        "the current customer in sample-wallet ('50 Bonus points for Friend')."
    )
