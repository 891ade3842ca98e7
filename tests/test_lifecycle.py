"""Session lifecycle and rollbacks, referral creation and referral validity, through the CLI.

A closed session that redeemed a referral code can be cancelled: that revokes it, rolling back the
points it booked (the advocate's too) and the use of the code. Codes are created by the campaign's
registration rule or by `referral create`; a code a session carries gets exactly one verdict,
acceptReferral or rejectReferral with Talon.One's rejection reason. Every test starts from a fresh
state file (conftest); campaigns other than the shipped sample are written as TOML files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import check_db, ok, program_of, stored_entry, talon_id

Run = Callable[..., Any]  # conftest's `run` fixture

SAMPLE = "medium-referral"
WALLET = "sample-wallet"
CODE_SHAPE = re.compile(
    r"^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{4}-[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{4}$"
)
UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# A Talon.One Referral's fields that are always there; friendProfileIntegrationId, startDate and
# expiryDate are left out when they have no value.
REFERRAL_KEYS = {
    "id",
    "code",
    "campaignId",
    "advocateProfileIntegrationId",
    "usageLimit",
    "usageCounter",
    "created",
}
T0 = "2026-05-01T00:00:00Z"


# --- helpers -------------------------------------------------------------------------------------


def register(run: Run, profile: str, *options: str) -> str:
    """A new profile; returns the referral code the registration rule created."""
    code = ok(run(*options, "profile", "update", profile, "-q")).stdout.strip()
    assert code, f"{profile} got no referral code"
    return code


def close(run: Run, *args: str, options: tuple[str, ...] = ()) -> Any:
    return ok(run(*options, "session", "close", *args, "--json")).json


def cancel(run: Run, session_id: str, *flags: str) -> Any:
    return ok(run("session", "cancel", session_id, *flags, "--json")).json


def types(response: Any) -> list[str]:
    return [e["effectType"] for e in response["effects"]]


def balance(run: Run, profile: str, program: str = WALLET, *options: str) -> dict[str, Any]:
    """One program of the customer's Loyalty: {id, title, name, ledger: {currentBalance...}}."""
    result = ok(run(*options, "loyalty", "balance", profile, "--json"))
    return program_of(result.json, program)


def current(run: Run, profile: str, program: str = WALLET, *options: str) -> int:
    return balance(run, profile, program, *options)["ledger"]["currentBalance"]


def ledger(run: Run, profile: str) -> list[dict[str, Any]]:
    """The customer's ledger, oldest first (the JSON lists it newest first)."""
    result = ok(run("loyalty", "ledger", profile, "--json")).json
    assert result["hasMore"] is False
    return result["data"][::-1]


def referral(run: Run, code: str) -> dict[str, Any]:
    return ok(run("referral", "show", code, "--json")).json


def session_state(run: Run, session_id: str) -> str:
    return ok(run("session", "show", session_id, "--json")).json["customerSession"]["state"]


def rejection(response: Any) -> dict[str, Any]:
    """The props of the one rejectReferral effect of a response that has no other effect."""
    assert types(response) == ["rejectReferral"], response["effects"]
    return response["effects"][0]["props"]


def write_campaign(directory: Path, text: str, name: str = "campaign.toml") -> Path:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def at(moment: str, *, days: int = 0, seconds: int = 0) -> str:
    """An ISO time `days` and `seconds` after `moment`, as refcamp prints times."""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
    later = parsed + timedelta(days=days, seconds=seconds)
    return later.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def redeemed(active: Run) -> dict[str, Any]:
    """ADVOCATE registered; FRIEND1 closed session S1 with the code: 100 and 50 points booked."""
    code = register(active, "ADVOCATE")
    response = close(active, "S1", "--profile", "FRIEND1", "--referral", code)
    assert types(response) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    advocate, friend = response["effects"][1]["props"], response["effects"][2]["props"]
    assert (advocate["recipientIntegrationId"], friend["recipientIntegrationId"]) == (
        "ADVOCATE",
        "FRIEND1",
    )
    return {
        "code": code,
        "session": "S1",
        "advocate_uuid": advocate["transactionUUID"],
        "friend_uuid": friend["transactionUUID"],
    }


# --- cancelling a closed session: revocation and rollbacks ---------------------------------------


def test_cancel_closed_session_rolls_back_both_awards_and_the_code_use(
    active: Run, redeemed: dict[str, Any]
) -> None:
    response = cancel(active, "S1")
    assert types(response) == [
        "rollbackAddedLoyaltyPoints",
        "rollbackAddedLoyaltyPoints",
        "rollbackReferral",
    ]
    advocate, friend, code_use = (e["props"] for e in response["effects"])
    wallet = talon_id(active, "program", WALLET)
    assert advocate["recipientIntegrationId"] == "ADVOCATE"
    assert advocate["value"] == 100
    assert advocate["programId"] == wallet
    assert advocate["subLedgerId"] == ""
    assert UUID_SHAPE.match(advocate["transactionUUID"])
    assert advocate["transactionUUID"] != redeemed["advocate_uuid"]
    assert friend["recipientIntegrationId"] == "FRIEND1"
    assert friend["value"] == 50
    assert friend["programId"] == wallet
    assert friend["subLedgerId"] == ""
    assert UUID_SHAPE.match(friend["transactionUUID"])
    assert friend["transactionUUID"] not in (redeemed["friend_uuid"], advocate["transactionUUID"])
    assert code_use == {"value": redeemed["code"]}
    assert all(e["campaignId"] == talon_id(active, "campaign", SAMPLE) for e in response["effects"])
    assert response["customerSession"]["state"] == "cancelled"
    check_db(active)


def test_cancel_closed_session_zeroes_balances_and_the_usage_counter(
    active: Run, redeemed: dict[str, Any]
) -> None:
    assert current(active, "ADVOCATE") == 100
    assert referral(active, redeemed["code"])["usageCounter"] == 1
    cancel(active, "S1")
    assert balance(active, "ADVOCATE") == {
        "id": talon_id(active, "program", WALLET),
        "title": "Sample wallet",
        "name": WALLET,
        "ledger": {
            "currentBalance": 0,
            "pendingBalance": 0,
            "expiredBalance": 0,
            "spentBalance": 0,
            "tentativeCurrentBalance": 0,
            "tentativePendingBalance": 0,
        },
    }
    assert current(active, "FRIEND1") == 0
    assert referral(active, redeemed["code"])["usageCounter"] == 0
    assert session_state(active, "S1") == "cancelled"
    check_db(active)


@pytest.mark.parametrize(
    ("profile", "amount", "uuid_key", "effect_index"),
    [("ADVOCATE", 100, "advocate_uuid", 0), ("FRIEND1", 50, "friend_uuid", 1)],
)
def test_cancel_closed_session_writes_reversing_ledger_entries(
    active: Run,
    redeemed: dict[str, Any],
    profile: str,
    amount: int,
    uuid_key: str,
    effect_index: int,
) -> None:
    rollback = cancel(active, "S1")["effects"][effect_index]["props"]
    entries = ledger(active, profile)
    assert len(entries) == 2
    original, reversal = entries
    # Talon.One's transactions show no transactionUUID and no link to the entry rolled back: the
    # state file's rows say which transaction each one is
    kept, reversing = (stored_entry(active, e["id"]) for e in entries)
    assert kept["transaction_uuid"] == redeemed[uuid_key]
    assert original["type"] == "addition"
    assert original["amount"] == amount
    assert kept["reverses"] is None
    assert reversal["type"] == "subtraction"
    assert reversal["amount"] == amount
    assert reversal["name"] == f"Rollback: {original['name']}"
    assert reversing["reverses"] == redeemed[uuid_key]
    assert reversing["transaction_uuid"] == rollback["transactionUUID"]
    assert reversal["programId"] == talon_id(active, "program", WALLET)
    assert reversal["customerSessionId"] == "S1"
    check_db(active)


def test_codes_created_stay_after_a_rollback(active: Run, redeemed: dict[str, Any]) -> None:
    cancel(active, "S1")
    code = referral(active, redeemed["code"])
    assert code["advocateProfileIntegrationId"] == "ADVOCATE"
    listed = ok(active("referral", "list", "--advocate", "ADVOCATE", "--json")).json
    assert [r["code"] for r in listed] == [redeemed["code"]]
    check_db(active)


def test_cancel_dry_run_shows_the_rollbacks_but_changes_nothing(
    active: Run, redeemed: dict[str, Any]
) -> None:
    response = cancel(active, "S1", "--dry-run")
    assert types(response) == [
        "rollbackAddedLoyaltyPoints",
        "rollbackAddedLoyaltyPoints",
        "rollbackReferral",
    ]
    assert [e["props"]["value"] for e in response["effects"]] == [100, 50, redeemed["code"]]
    assert response["dryRun"] is True
    assert current(active, "ADVOCATE") == 100
    assert current(active, "FRIEND1") == 50
    assert referral(active, redeemed["code"])["usageCounter"] == 1
    assert session_state(active, "S1") == "closed"
    assert len(ledger(active, "ADVOCATE")) == 1
    # The real cancel afterwards still has everything to roll back.
    assert len(cancel(active, "S1")["effects"]) == 3
    check_db(active)


def test_cancel_open_session_books_nothing(active: Run) -> None:
    code = register(active, "ADVOCATE")
    ok(active("session", "update", "S1", "--profile", "FRIEND1", "--referral", code))
    assert session_state(active, "S1") == "open"
    response = cancel(active, "S1")
    assert not [t for t in types(response) if t.startswith("rollback")]
    assert "addLoyaltyPoints" not in types(response)
    assert response["customerSession"]["state"] == "cancelled"
    assert session_state(active, "S1") == "cancelled"
    assert current(active, "ADVOCATE") == 0
    assert current(active, "FRIEND1") == 0
    assert ledger(active, "ADVOCATE") == []
    assert referral(active, code)["usageCounter"] == 0
    check_db(active)


def test_cancelling_twice_changes_nothing_the_second_time(
    active: Run, redeemed: dict[str, Any]
) -> None:
    cancel(active, "S1")
    second = ok(active("session", "cancel", "S1", "--json"))
    assert second.json["effects"] == []
    assert "already cancelled" in second.stderr
    words = ok(active("session", "cancel", "S1"))
    assert "already cancelled" in words.stderr
    assert current(active, "ADVOCATE") == 0
    assert current(active, "FRIEND1") == 0
    assert referral(active, redeemed["code"])["usageCounter"] == 0
    assert len(ledger(active, "ADVOCATE")) == 2
    check_db(active)


def test_cancel_unknown_session_exits_1(active: Run) -> None:
    result = active("session", "cancel", "NOSUCHSESSION", "--json")
    assert result.exit_code == 1, result
    assert "NOSUCHSESSION" in result.stderr
    assert result.stdout == ""
    assert active("session", "show", "NOSUCHSESSION").exit_code == 1
    check_db(active)


def test_closing_a_closed_session_again_awards_nothing(
    active: Run, redeemed: dict[str, Any]
) -> None:
    again = ok(active("session", "close", "S1", "--json"))
    assert again.json["effects"] == []
    assert "already closed" in again.stderr
    assert "nothing was awarded again" in again.stderr
    words = ok(active("session", "close", "S1", "--referral", redeemed["code"]))
    assert "already closed" in words.stderr
    assert current(active, "ADVOCATE") == 100
    assert current(active, "FRIEND1") == 50
    assert referral(active, redeemed["code"])["usageCounter"] == 1
    assert len(ledger(active, "ADVOCATE")) == 1
    check_db(active)


@pytest.mark.parametrize(
    ("command", "verb"),
    [(("session", "close", "S1"), "closed"), (("session", "update", "S1", "--state", "open"), "")],
)
def test_cancelled_session_cannot_be_closed_or_reopened(
    active: Run, redeemed: dict[str, Any], command: tuple[str, ...], verb: str
) -> None:
    cancel(active, "S1")
    result = active(*command, "--json")
    assert result.exit_code == 1, result
    assert result.stdout == ""
    assert "S1" in result.stderr
    assert "cancelled" in result.stderr
    assert verb in result.stderr
    assert session_state(active, "S1") == "cancelled"
    assert current(active, "ADVOCATE") == 0
    assert referral(active, redeemed["code"])["usageCounter"] == 0
    check_db(active)


def test_cancelled_open_session_cannot_be_closed(active: Run) -> None:
    ok(active("session", "update", "S1", "--profile", "FRIEND1"))
    cancel(active, "S1")
    result = active("session", "close", "S1")
    assert result.exit_code == 1, result
    assert "cancelled" in result.stderr
    assert session_state(active, "S1") == "cancelled"
    check_db(active)


def test_closed_session_cannot_be_reopened_by_an_update(
    active: Run, redeemed: dict[str, Any]
) -> None:
    result = active("session", "update", "S1", "--state", "open", "--json")
    assert result.exit_code == 1, result
    assert result.stdout == ""
    assert "S1" in result.stderr
    assert "refcamp session reopen" in result.stderr  # the way that does reopen it
    assert session_state(active, "S1") == "closed"
    assert current(active, "ADVOCATE") == 100
    check_db(active)


def test_friend_can_redeem_again_after_a_rollback(active: Run, redeemed: dict[str, Any]) -> None:
    # The sample rewards a friend once (redeemReferral limit 1 per profile): before the rollback
    # a second redemption is refused, after it the limit is given back.
    other = register(active, "OTHER")
    refused = close(active, "--profile", "FRIEND1", "--referral", other, "--dry-run")
    assert rejection(refused)["rejectionReason"] == "ProfileLimitReached"
    cancel(active, "S1")
    again = close(active, "S2", "--profile", "FRIEND1", "--referral", redeemed["code"])
    assert types(again) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert current(active, "ADVOCATE") == 100
    assert current(active, "FRIEND1") == 50
    assert referral(active, redeemed["code"])["usageCounter"] == 1
    check_db(active)


def test_update_to_cancelled_revokes_like_cancel(active: Run, redeemed: dict[str, Any]) -> None:
    response = ok(active("session", "update", "S1", "--state", "cancelled", "--json")).json
    assert types(response) == [
        "rollbackAddedLoyaltyPoints",
        "rollbackAddedLoyaltyPoints",
        "rollbackReferral",
    ]
    assert current(active, "ADVOCATE") == 0
    assert current(active, "FRIEND1") == 0
    assert referral(active, redeemed["code"])["usageCounter"] == 0
    assert session_state(active, "S1") == "cancelled"
    check_db(active)


def test_rollback_gives_a_use_of_a_single_use_code_back(active: Run) -> None:
    args = ("referral", "create", "--campaign", SAMPLE, "--advocate", "ADV", "--usage-limit", "1")
    code = ok(active(*args, "-q")).stdout.strip()
    close(active, "S1", "--profile", "F1", "--referral", code)
    refused = close(active, "--profile", "F2", "--referral", code, "--dry-run")
    assert rejection(refused)["rejectionReason"] == "ReferralLimitReached"
    cancel(active, "S1")
    accepted = close(active, "S2", "--profile", "F2", "--referral", code)
    assert types(accepted) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert referral(active, code)["usageCounter"] == 1
    assert current(active, "ADV") == 100
    assert current(active, "F1") == 0
    assert current(active, "F2") == 50
    check_db(active)


def test_cancel_rolls_back_a_deduction(run: Run, tmp_path: Path) -> None:
    directory = write_campaign(
        tmp_path / "pay",
        """
[campaign]
id = "pay"
state = "enabled"

[[loyalty_program]]
id = "wallet"

[[rules]]
name = "pay with points"
when = [{ event = "talon_session_closed" }]
then = [{ effect = "deduct_loyalty_points", program = "wallet", points = 30, reason = "Paid" }]
""",
    )
    campaigns = ("--campaigns", str(directory))
    ok(
        run(
            *campaigns,
            "loyalty",
            "add",
            "P",
            "--program",
            "wallet",
            "--points",
            "100",
            "--reason",
            "gift",
        )
    )
    closed = close(run, "S1", "--profile", "P", options=campaigns)
    assert types(closed) == ["deductLoyaltyPoints"]
    deduction = closed["effects"][0]["props"]["transactionUUID"]
    assert balance(run, "P", "wallet", *campaigns)["ledger"]["currentBalance"] == 70
    response = ok(run(*campaigns, "session", "cancel", "S1", "--json")).json
    assert types(response) == ["rollbackDeductedLoyaltyPoints"]
    props = response["effects"][0]["props"]
    assert props["value"] == 30
    assert props["recipientIntegrationId"] == "P"
    assert props["programId"] == talon_id(run, "program", "wallet", *campaigns)
    assert props["transactionUUID"] != deduction
    assert balance(run, "P", "wallet", *campaigns) == {
        "id": talon_id(run, "program", "wallet", *campaigns),
        "title": "wallet",
        "name": "wallet",
        "ledger": {
            "currentBalance": 100,
            "pendingBalance": 0,
            "expiredBalance": 0,
            "spentBalance": 0,
            "tentativeCurrentBalance": 100,
            "tentativePendingBalance": 0,
        },
    }
    reversal = ledger(run, "P")[-1]
    reverses = stored_entry(run, reversal["id"], *campaigns)["reverses"]
    assert (reversal["type"], reversal["amount"], reverses) == (
        "addition",
        30,
        deduction,
    )
    check_db(run, *campaigns)


def test_codes_a_rule_creates_in_a_session_stay_when_it_is_cancelled(
    run: Run, tmp_path: Path
) -> None:
    directory = write_campaign(
        tmp_path / "codes",
        """
[campaign]
id = "codes"
state = "enabled"

[[rules]]
name = "a code for every new session"
when = [{ event = "talon_session_created" }]
then = [{ effect = "create_referral_code" }]
""",
    )
    campaigns = ("--campaigns", str(directory))
    opened = ok(run(*campaigns, "session", "update", "S1", "--profile", "P", "--json")).json
    [created] = opened["createdReferrals"]
    closed = ok(run(*campaigns, "session", "close", "S2", "--profile", "P", "--json")).json
    [created_closed] = closed["createdReferrals"]
    for session_id in ("S1", "S2"):
        ok(run(*campaigns, "session", "cancel", session_id))
    listed = ok(run(*campaigns, "referral", "list", "--advocate", "P", "--json")).json
    assert sorted(r["code"] for r in listed) == sorted([created["code"], created_closed["code"]])
    check_db(run, *campaigns)


# --- which session events fire -------------------------------------------------------------------

EVENTS_CAMPAIGN = """
[campaign]
id = "events"
state = "enabled"

[[loyalty_program]]
id = "pts"

[[rules]]
name = "created"
when = [{ event = "talon_session_created" }]
then = [{ effect = "add_loyalty_points", program = "pts", points = 1 }]

[[rules]]
name = "updated"
when = [{ event = "talon_session_updated" }]
then = [{ effect = "add_loyalty_points", program = "pts", points = 2 }]

[[rules]]
name = "closed"
when = [{ event = "talon_session_closed" }]
then = [{ effect = "add_loyalty_points", program = "pts", points = 4 }]

[[rules]]
name = "cancelled"
when = [{ event = "talon_session_cancelled" }]
then = [{ effect = "add_loyalty_points", program = "pts", points = 8 }]

[[rules]]
name = "revoked"
when = [{ event = "talon_session_revoked" }]
then = [{ effect = "add_loyalty_points", program = "pts", points = 16 }]
"""


@pytest.fixture
def events(run: Run, tmp_path: Path) -> Run:
    """refcamp with --campaigns pointing at the one-rule-per-event campaign."""
    directory = write_campaign(tmp_path / "events", EVENTS_CAMPAIGN)

    def invoke(*args: str, **kwargs: Any) -> Any:
        return run("--campaigns", str(directory), *args, **kwargs)

    return invoke


def fired(response: Any) -> list[tuple[str, int]]:
    """(ruleName, points) of the addLoyaltyPoints effects."""
    return [
        (e["ruleName"], e["props"]["value"])
        for e in response["effects"]
        if e["effectType"] == "addLoyaltyPoints"
    ]


def booked(response: Any) -> list[bool]:
    """Per addLoyaltyPoints effect: was it booked (a transactionUUID) or only shown (an empty
    one: Talon.One's transactionUUID is a string)?"""
    return [
        e["props"]["transactionUUID"] != ""
        for e in response["effects"]
        if e["effectType"] == "addLoyaltyPoints"
    ]


def update(run: Run, *args: str) -> Any:
    return ok(run("session", "update", *args, "--json")).json


def test_new_open_session_fires_created_only_and_books_nothing(events: Run) -> None:
    response = update(events, "E1", "--profile", "P")
    assert fired(response) == [("created", 1)]
    assert booked(response) == [False]
    assert current(events, "P", "pts") == 0
    assert ledger(events, "P") == []
    check_db(events)


def test_second_update_fires_updated_only_and_books_nothing(events: Run) -> None:
    update(events, "E1", "--profile", "P")
    response = update(events, "E1")
    assert fired(response) == [("updated", 2)]
    assert booked(response) == [False]
    assert fired(update(events, "E1")) == [("updated", 2)]
    assert current(events, "P", "pts") == 0
    check_db(events)


def test_closing_an_open_session_fires_closed_and_books_it(events: Run) -> None:
    update(events, "E1", "--profile", "P")
    response = close(events, "E1")
    assert fired(response) == [("closed", 4)]
    assert booked(response) == [True]
    assert UUID_SHAPE.match(response["effects"][0]["props"]["transactionUUID"])
    assert current(events, "P", "pts") == 4
    check_db(events)


def test_session_created_closed_fires_created_and_closed(events: Run) -> None:
    response = close(events, "E2", "--profile", "P")
    assert fired(response) == [("created", 1), ("closed", 4)]
    assert booked(response) == [True, True]
    assert current(events, "P", "pts") == 5
    assert [e["amount"] for e in ledger(events, "P")] == [1, 4]
    check_db(events)


def test_cancelling_an_open_session_fires_cancelled(events: Run) -> None:
    update(events, "E3", "--profile", "P")
    response = cancel(events, "E3")
    assert fired(response) == [("cancelled", 8)]
    assert booked(response) == [False]  # open -> cancelled books nothing
    assert current(events, "P", "pts") == 0
    assert not [t for t in types(response) if t.startswith("rollback")]
    check_db(events)


def test_a_new_session_cannot_be_created_cancelled(events: Run) -> None:
    """NewCustomerSessionV2.state: "Sessions can be created as `open` or `closed`" (exit 2,
    nothing saved: there is nothing to cancel)."""
    result = events("session", "update", "E4", "--profile", "P", "--state", "cancelled")
    assert result.exit_code == 2, result
    assert "created open or closed" in result.stderr, result.stderr
    assert events("session", "show", "E4").exit_code == 1  # no such session
    check_db(events)


def test_cancelling_a_closed_session_fires_revoked_and_rolls_back(events: Run) -> None:
    created = close(events, "E2", "--profile", "P")
    uuids = [e["props"]["transactionUUID"] for e in created["effects"]]
    response = cancel(events, "E2")
    assert fired(response) == [("revoked", 16)]
    assert booked(response) == [False]  # closed -> cancelled books only the rollbacks
    assert current(events, "P", "pts") == 0
    rollbacks = [
        (e["ruleName"], e["props"]["value"])
        for e in response["effects"]
        if e["effectType"] == "rollbackAddedLoyaltyPoints"
    ]
    assert rollbacks == [("created", 1), ("closed", 4)]
    rows = [stored_entry(events, e["id"]) for e in ledger(events, "P")]
    reversed_ids = [row["reverses"] for row in rows if row["reverses"]]
    assert reversed_ids == uuids
    check_db(events)


# --- referral create -----------------------------------------------------------------------------


def test_referral_create_draws_a_code_from_the_campaign_pattern(run: Run) -> None:
    result = ok(
        run("--now", T0, "referral", "create", "--campaign", SAMPLE, "--advocate", "ADV", "--json")
    )
    data = result.json
    assert set(data) >= REFERRAL_KEYS
    assert CODE_SHAPE.match(data["code"])
    assert data["campaignId"] == talon_id(run, "campaign", SAMPLE)
    assert data["advocateProfileIntegrationId"] == "ADV"
    assert "friendProfileIntegrationId" not in data  # no friend
    assert data["usageLimit"] == 0
    assert data["usageCounter"] == 0
    assert "startDate" not in data  # no start date
    assert "expiryDate" not in data  # no expiry
    assert data["created"] == "2026-05-01T00:00:00.000Z"
    assert referral(run, data["code"]) == data
    check_db(run)


def test_referral_create_imports_a_code_with_every_option(run: Run) -> None:
    result = ok(
        run(
            "--now",
            T0,
            "referral",
            "create",
            "--campaign",
            SAMPLE,
            "--advocate",
            "ADV",
            "--code",
            "WELCOME-ANNA",
            "--friend",
            "ANNA",
            "--usage-limit",
            "3",
            "--starts",
            "2026-05-02T00:00:00Z",
            "--expires",
            "2026-06-01T02:00:00+02:00",
            "--json",
        )
    )
    data = result.json
    assert data["code"] == "WELCOME-ANNA"
    assert data["campaignId"] == talon_id(run, "campaign", SAMPLE)
    assert data["advocateProfileIntegrationId"] == "ADV"
    assert data["friendProfileIntegrationId"] == "ANNA"
    assert data["usageLimit"] == 3
    assert data["usageCounter"] == 0
    assert data["startDate"] == "2026-05-02T00:00:00.000Z"
    assert data["expiryDate"] == "2026-06-01T00:00:00.000Z"
    assert data["created"] == "2026-05-01T00:00:00.000Z"
    assert referral(run, "WELCOME-ANNA") == data
    check_db(run)


def test_referral_create_uses_a_custom_pattern(run: Run, tmp_path: Path) -> None:
    directory = write_campaign(
        tmp_path / "custom",
        """
[campaign]
id = "custom"

[campaign.referrals]
pattern = "REF-###"
characters = "XYZ"
""",
    )
    for advocate in ("A", "B", "C"):
        code = ok(
            run(
                "--campaigns",
                str(directory),
                "referral",
                "create",
                "--campaign",
                "custom",
                "--advocate",
                advocate,
                "-q",
            )
        ).stdout.strip()
        assert re.fullmatch(r"REF-[XYZ]{3}", code), code
    check_db(run, "--campaigns", str(directory))


def test_referral_create_makes_the_advocate_a_profile(run: Run) -> None:
    assert run("profile", "show", "NEWADV").exit_code == 1
    ok(run("referral", "create", "--campaign", SAMPLE, "--advocate", "NEWADV"))
    shown = ok(run("profile", "show", "NEWADV", "--json"))
    assert shown.json["profile"]["integrationId"] == "NEWADV"
    check_db(run)


def test_referral_create_quiet_prints_only_the_code(run: Run) -> None:
    result = ok(run("referral", "create", "--campaign", SAMPLE, "--advocate", "ADV", "-q"))
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert CODE_SHAPE.match(lines[0])
    imported = ok(
        run("referral", "create", "--campaign", SAMPLE, "--advocate", "ADV", "--code", "MINE", "-q")
    )
    assert imported.stdout == "MINE\n"
    check_db(run)


def test_referral_create_with_a_code_that_exists_exits_1(run: Run) -> None:
    args = ("referral", "create", "--campaign", SAMPLE, "--advocate", "ADV", "--code", "TAKEN")
    ok(run(*args))
    again = run(*args[:-3], "OTHER", "--code", "TAKEN", "--json")
    assert again.exit_code == 1, again
    assert "TAKEN" in again.stderr
    assert "exists" in again.stderr
    assert again.stdout == ""
    assert referral(run, "TAKEN")["advocateProfileIntegrationId"] == "ADV"
    assert run("profile", "show", "OTHER").exit_code == 1
    check_db(run)


def test_referral_create_with_a_code_registration_made_exits_1(active: Run) -> None:
    code = register(active, "ADV")
    result = active(
        "referral", "create", "--campaign", SAMPLE, "--advocate", "OTHER", "--code", code
    )
    assert result.exit_code == 1, result
    assert referral(active, code)["advocateProfileIntegrationId"] == "ADV"
    check_db(active)


def test_referral_create_for_an_unknown_campaign_exits_1(run: Run) -> None:
    result = run("referral", "create", "--campaign", "no-such-campaign", "--advocate", "ADV")
    assert result.exit_code == 1, result
    assert "no-such-campaign" in result.stderr
    assert result.stdout == ""
    assert ok(run("referral", "list", "--json")).json == []
    check_db(run)


@pytest.mark.parametrize(
    "options",
    [
        ("--usage-limit", "-1"),
        ("--starts", "2026-06-01T00:00:00Z", "--expires", "2026-05-01T00:00:00Z"),
        ("--starts", "2026-06-01T00:00:00Z", "--expires", "2026-06-01T00:00:00Z"),
        ("--expires", "not-a-time"),
    ],
    ids=["negative-usage-limit", "expires-before-starts", "expires-at-starts", "bad-time"],
)
def test_referral_create_with_invalid_options_exits_2(run: Run, options: tuple[str, ...]) -> None:
    ok(run("campaign", "list"))  # a state file to look in afterwards
    result = run("referral", "create", "--campaign", SAMPLE, "--advocate", "ADV", *options)
    assert result.exit_code == 2, result
    assert "error" in result.stderr
    assert result.stdout == ""
    assert ok(run("referral", "list", "--json")).json == []
    assert run("profile", "show", "ADV").exit_code == 1
    check_db(run)


SETTINGS_CAMPAIGN = """
[campaign]
id = "settings"
state = "enabled"

[campaign.referrals]
usage_limit = 2
valid_for = "30D"

[[rules]]
name = "Generate a referral code"
when = [{ event = "talon_profile_created" }]
then = [{ effect = "create_referral_code" }]
"""


def test_campaign_code_settings_apply_to_codes_made_at_registration(
    run: Run, tmp_path: Path
) -> None:
    campaigns = ("--campaigns", str(write_campaign(tmp_path / "s", SETTINGS_CAMPAIGN)))
    data = ok(run(*campaigns, "--now", T0, "profile", "update", "ADV", "--json")).json
    [created] = data["createdReferrals"]
    assert created["usageLimit"] == 2
    assert created["created"] == "2026-05-01T00:00:00.000Z"
    assert created["expiryDate"] == at(created["created"], days=30)
    assert created["expiryDate"] == "2026-05-31T00:00:00.000Z"
    assert referral(run, created["code"])["expiryDate"] == created["expiryDate"]
    check_db(run, *campaigns)


def test_campaign_code_settings_apply_to_referral_create(run: Run, tmp_path: Path) -> None:
    campaigns = ("--campaigns", str(write_campaign(tmp_path / "s", SETTINGS_CAMPAIGN)))
    data = ok(
        run(
            *campaigns,
            "--now",
            "2026-05-10T12:00:00Z",
            "referral",
            "create",
            "--campaign",
            "settings",
            "--advocate",
            "ADV",
            "--json",
        )
    ).json
    assert data["usageLimit"] == 2
    assert data["created"] == "2026-05-10T12:00:00.000Z"
    assert data["expiryDate"] == at(data["created"], days=30)
    # Options given on the command line win over the campaign's settings.
    explicit = ok(
        run(
            *campaigns,
            "--now",
            "2026-05-10T12:00:00Z",
            "referral",
            "create",
            "--campaign",
            "settings",
            "--advocate",
            "ADV",
            "--usage-limit",
            "0",
            "--expires",
            "2026-12-31T00:00:00Z",
            "--json",
        )
    ).json
    assert explicit["usageLimit"] == 0
    assert explicit["expiryDate"] == "2026-12-31T00:00:00.000Z"
    check_db(run, *campaigns)


# --- every rejection reason, and nothing booked --------------------------------------------------


def assert_nothing_booked(run: Run, code: str | None, advocate: str, *friends: str) -> None:
    """No points for the advocate or the friends, and the code (if any) unused."""
    assert ledger(run, advocate) == []
    for friend in friends:
        assert ledger(run, friend) == []
    if code is not None:
        assert referral(run, code)["usageCounter"] == 0


def test_reject_referral_not_found(active: Run) -> None:
    register(active, "ADV")
    props = rejection(close(active, "--profile", "FRIEND1", "--referral", "NOPE-NOPE"))
    assert props["value"] == "NOPE-NOPE"
    assert props["rejectionReason"] == "ReferralNotFound"
    assert_nothing_booked(active, None, "ADV", "FRIEND1")
    check_db(active)


def test_reject_recipient_is_the_advocate(active: Run) -> None:
    code = register(active, "ADV")
    props = rejection(close(active, "--profile", "ADV", "--referral", code))
    assert props["value"] == code
    assert props["rejectionReason"] == "ReferralRecipientIdSameAsAdvocate"
    assert_nothing_booked(active, code, "ADV")
    check_db(active)


def test_reject_code_of_a_deactivated_campaign(active: Run) -> None:
    code = register(active, "ADV")
    ok(active("campaign", "deactivate", SAMPLE))
    props = rejection(close(active, "--profile", "FRIEND1", "--referral", code))
    assert props["value"] == code
    assert props["rejectionReason"] == "ReferralPartOfNotRunningCampaign"
    assert_nothing_booked(active, code, "ADV", "FRIEND1")
    check_db(active)


WINDOW_CAMPAIGN = """
[campaign]
id = "window"
state = "enabled"
start = 2026-04-01T00:00:00Z
end = 2026-07-01T00:00:00Z

[[loyalty_program]]
id = "wallet"

[[rules]]
name = "redeem"
when = [{ referral = "valid" }, { event = "talon_session_closed" }]
then = [{ effect = "add_loyalty_points", program = "wallet", recipient = "advocate", points = 10 }]
"""


@pytest.mark.parametrize(
    "now", ["2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z", "2026-03-31T23:59:59Z"]
)
def test_reject_code_of_a_campaign_outside_its_window(run: Run, tmp_path: Path, now: str) -> None:
    campaigns = ("--campaigns", str(write_campaign(tmp_path / "w", WINDOW_CAMPAIGN)))
    ok(
        run(
            *campaigns,
            "--now",
            "2026-05-01T00:00:00Z",
            "referral",
            "create",
            "--campaign",
            "window",
            "--advocate",
            "ADV",
            "--code",
            "WIN",
        )
    )
    inside = close(
        run, "--profile", "F0", "--referral", "WIN", "--dry-run", options=(*campaigns, "--now", T0)
    )
    assert types(inside) == ["acceptReferral", "addLoyaltyPoints"]
    outside = close(
        run, "--profile", "FRIEND1", "--referral", "WIN", options=(*campaigns, "--now", now)
    )
    props = rejection(outside)
    assert props["value"] == "WIN"
    assert props["rejectionReason"] == "ReferralPartOfNotRunningCampaign"
    assert_nothing_booked(run, "WIN", "ADV", "FRIEND1")
    check_db(run, *campaigns, "--now", now)


def test_reject_code_used_up(active: Run) -> None:
    code = ok(
        active(
            "referral",
            "create",
            "--campaign",
            SAMPLE,
            "--advocate",
            "ADV",
            "--usage-limit",
            "1",
            "-q",
        )
    ).stdout.strip()
    first = close(active, "--profile", "FRIEND1", "--referral", code)
    assert types(first)[0] == "acceptReferral"
    assert referral(active, code)["usageCounter"] == 1
    props = rejection(close(active, "--profile", "FRIEND2", "--referral", code))
    assert props["value"] == code
    assert props["rejectionReason"] == "ReferralLimitReached"
    assert ledger(active, "FRIEND2") == []
    assert current(active, "ADV") == 100
    assert referral(active, code)["usageCounter"] == 1
    check_db(active)


def test_reject_expired_code(active: Run) -> None:
    ok(
        active(
            "--now",
            T0,
            "referral",
            "create",
            "--campaign",
            SAMPLE,
            "--advocate",
            "ADV",
            "--code",
            "SHORTLIVED",
            "--expires",
            "2026-05-10T00:00:00Z",
        )
    )
    before = close(
        active,
        "--profile",
        "FRIEND0",
        "--referral",
        "SHORTLIVED",
        "--dry-run",
        options=("--now", "2026-05-09T23:59:59Z"),
    )
    assert types(before)[0] == "acceptReferral"
    for now in ("2026-05-10T00:00:00Z", "2026-06-01T00:00:00Z"):
        response = close(
            active, "--profile", "FRIEND1", "--referral", "SHORTLIVED", options=("--now", now)
        )
        props = rejection(response)
        assert props["rejectionReason"] == "ReferralExpired"
        assert props["value"] == "SHORTLIVED"
    assert_nothing_booked(active, "SHORTLIVED", "ADV", "FRIEND1")
    check_db(active, "--now", "2026-06-01T00:00:00Z")


def test_reject_code_before_its_start(active: Run) -> None:
    ok(
        active(
            "--now",
            T0,
            "referral",
            "create",
            "--campaign",
            SAMPLE,
            "--advocate",
            "ADV",
            "--code",
            "LATER",
            "--starts",
            "2026-06-01T00:00:00Z",
        )
    )
    response = close(
        active,
        "S1",
        "--profile",
        "FRIEND1",
        "--referral",
        "LATER",
        options=("--now", "2026-05-31T00:00:00Z"),
    )
    props = rejection(response)
    assert props["value"] == "LATER"
    assert props["rejectionReason"] == "ReferralStartDateInFuture"
    assert_nothing_booked(active, "LATER", "ADV", "FRIEND1")
    # From its start date on, the code works.
    accepted = close(
        active,
        "S2",
        "--profile",
        "FRIEND1",
        "--referral",
        "LATER",
        options=("--now", "2026-06-01T00:00:00Z"),
    )
    assert types(accepted)[0] == "acceptReferral"
    check_db(active, "--now", "2026-06-01T00:00:00Z")


def test_reject_code_made_for_another_friend(active: Run) -> None:
    ok(
        active(
            "referral",
            "create",
            "--campaign",
            SAMPLE,
            "--advocate",
            "ADV",
            "--code",
            "FOR-F1",
            "--friend",
            "F1",
        )
    )
    props = rejection(close(active, "--profile", "F2", "--referral", "FOR-F1"))
    assert props["value"] == "FOR-F1"
    assert props["rejectionReason"] == "ReferralRecipientDoesNotMatch"
    assert_nothing_booked(active, "FOR-F1", "ADV", "F2")
    accepted = close(active, "--profile", "F1", "--referral", "FOR-F1")
    assert types(accepted) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert current(active, "ADV") == 100
    assert current(active, "F1") == 50
    check_db(active)


def test_reject_campaign_limit_reached(run: Run, tmp_path: Path) -> None:
    text = WINDOW_CAMPAIGN.replace(
        "end = 2026-07-01T00:00:00Z",
        'end = 2026-07-01T00:00:00Z\n\n[[campaign.limits]]\naction = "redeemReferral"\nlimit = 1\n'
        'per = "campaign"',
    )
    options = ("--campaigns", str(write_campaign(tmp_path / "c", text)), "--now", T0)
    for code in ("CODE-A", "CODE-B"):
        ok(
            run(
                *options,
                "referral",
                "create",
                "--campaign",
                "window",
                "--advocate",
                f"ADV-{code}",
                "--code",
                code,
            )
        )
    first = close(run, "--profile", "F1", "--referral", "CODE-A", options=options)
    assert types(first) == ["acceptReferral", "addLoyaltyPoints"]
    props = rejection(close(run, "--profile", "F2", "--referral", "CODE-B", options=options))
    assert props["value"] == "CODE-B"
    assert props["rejectionReason"] == "CampaignLimitReached"
    assert ledger(run, "ADV-CODE-B") == []
    assert referral(run, "CODE-B")["usageCounter"] == 0
    check_db(run, *options)


def test_reject_profile_limit_reached_in_the_sample(active: Run) -> None:
    code_a = register(active, "A")
    code_b = register(active, "B")
    first = close(active, "--profile", "FRIEND1", "--referral", code_a)
    assert types(first) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    props = rejection(close(active, "--profile", "FRIEND1", "--referral", code_b))
    assert props["value"] == code_b
    assert props["rejectionReason"] == "ProfileLimitReached"
    assert ledger(active, "B") == []
    assert current(active, "FRIEND1") == 50
    assert referral(active, code_b)["usageCounter"] == 0
    check_db(active)


def test_reject_valid_code_on_an_open_session(active: Run) -> None:
    code = register(active, "ADV")
    response = ok(
        active("session", "update", "S1", "--profile", "FRIEND1", "--referral", code, "--json")
    ).json
    props = rejection(response)
    assert props["value"] == code
    assert props["rejectionReason"] == "ReferralRejectedByCondition"
    assert props["conditionIndex"] == 1
    assert_nothing_booked(active, code, "ADV", "FRIEND1")
    check_db(active)


def test_reject_anonymous_session(active: Run) -> None:
    code = register(active, "ADV")
    response = close(active, "--anonymous", "--referral", code)
    props = rejection(response)
    assert props["value"] == code
    assert props["rejectionReason"] == "ReferralRecipientDoesNotMatch"  # Talon.One's reason
    assert response["customerSession"]["profileId"] == ""
    assert_nothing_booked(active, code, "ADV")
    check_db(active)


def test_referral_create_with_a_usage_limit_too_large_exits_2(run: Run) -> None:
    ok(run("campaign", "list"))  # a state file to look in afterwards
    result = run(
        "referral",
        "create",
        "--campaign",
        SAMPLE,
        "--advocate",
        "ADV",
        "--usage-limit",
        "99999999999999999999",
    )
    assert "internal error" not in result.stderr
    assert result.exit_code == 2, result
    assert "--usage-limit" in result.stderr
    assert ok(run("referral", "list", "--json")).json == []
    check_db(run)
