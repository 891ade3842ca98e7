"""Campaign limits, campaign schedules, simulated time, loyalty pending/expiry and manual point
adjustments, through the CLI.

Campaigns are TOML files written into a temporary directory and passed with `--campaigns DIR`;
every request names its time with `--now` (or REFCAMP_NOW), so nothing depends on the real clock.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import T0, Refcamp, ok, stored_entry, talon_id

Run = Callable[..., Any]  # conftest's `run` fixture


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def campaign(run: Run, tmp_path: Path) -> Callable[[str], Refcamp]:
    """Write one campaign file and return refcamp pointed at its directory."""

    def write(text: str) -> Refcamp:
        directory = tmp_path / "campaigns"
        directory.mkdir(exist_ok=True)
        (directory / "campaign.toml").write_text(text, encoding="utf-8")
        return Refcamp(run, directory)

    return write


def types(response: Any) -> list[str]:
    return [e["effectType"] for e in response["effects"]]


def points(response: Any) -> list[tuple[str, int]]:
    return [
        (e["props"]["recipientIntegrationId"], e["props"]["value"])
        for e in response["effects"]
        if e["effectType"] == "addLoyaltyPoints"
    ]


def blocked(response: Any) -> list[dict[str, Any]]:
    """ruleFailureReasons items about effects a limit stopped."""
    return [r for r in response["ruleFailureReasons"] if "effectIndex" in r]


def rejection_reason(response: Any) -> str:
    assert types(response) == ["rejectReferral"], response["effects"]
    return response["effects"][0]["props"]["rejectionReason"]


def with_limits(*limits: tuple[str, int, str]) -> str:
    return "".join(
        f'\n[[campaign.limits]]\naction = "{a}"\nlimit = {n}\nper = "{per}"\n'
        for a, n, per in limits
    )


def referral_campaign(*limits: tuple[str, int, str]) -> str:
    """Codes at registration; with a valid code, 100 points to the advocate, 50 to the friend."""
    return (
        '[campaign]\nid = "ref"\nstate = "enabled"\n'
        + with_limits(*limits)
        + """
[[loyalty_program]]
id = "wallet"

[[rules]]
name = "code"
when = [{ event = "talon_profile_created" }]
then = [{ effect = "create_referral_code" }]

[[rules]]
name = "redeem"
when = [{ referral = "valid" }, { event = "talon_session_closed" }]
then = [
  { effect = "add_loyalty_points", program = "wallet", recipient = "advocate", points = 100 },
  { effect = "add_loyalty_points", program = "wallet", recipient = "current", points = 50 },
]
"""
    )


def points_campaign(*limits: tuple[str, int, str], program: str = "", rule: str = "") -> str:
    """100 points to the customer of every session that closes."""
    return (
        '[campaign]\nid = "pts"\nstate = "enabled"\n'
        + with_limits(*limits)
        + f"""
[[loyalty_program]]
id = "wallet"
{program}

[[rules]]
name = "close"
when = [{{ event = "talon_session_closed" }}]
then = [{{ effect = "add_loyalty_points", program = "wallet", points = 100{rule} }}]
"""
    )


# --- campaign limits: redeemReferral -------------------------------------------------------------


def test_redeem_referral_limit_per_campaign(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(referral_campaign(("redeemReferral", 2, "campaign")))
    codes = [cli.code("ref", f"ADV{i}", f"CODE{i}") for i in range(3)]
    for i in range(2):
        accepted = cli.close("--profile", f"F{i}", "--referral", codes[i])
        assert types(accepted) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    third = cli.close("--profile", "F2", "--referral", codes[2])
    assert rejection_reason(third) == "CampaignLimitReached"
    assert cli.ledger("ADV2") == []
    assert cli.ledger("F2") == []
    assert cli.json("referral", "show", codes[2])["usageCounter"] == 0
    cli.check()


def test_redeem_referral_limit_per_profile(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(referral_campaign(("redeemReferral", 1, "profile")))
    code_a, code_b = cli.code("ref", "A", "CODE-A"), cli.code("ref", "B", "CODE-B")
    assert types(cli.close("--profile", "F1", "--referral", code_a))[0] == "acceptReferral"
    assert rejection_reason(cli.close("--profile", "F1", "--referral", code_b)) == (
        "ProfileLimitReached"
    )
    assert cli.ledger("B") == []
    assert cli.current("F1") == 50
    # Another friend is not limited by F1's redemption.
    assert types(cli.close("--profile", "F2", "--referral", code_b))[0] == "acceptReferral"
    assert cli.current("B") == 100
    cli.check()


def test_redeem_referral_limit_per_code(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(referral_campaign(("redeemReferral", 1, "code")))
    code_a, code_b = cli.code("ref", "A", "CODE-A"), cli.code("ref", "B", "CODE-B")
    assert cli.json("referral", "show", code_a)["usageLimit"] == 0
    assert types(cli.close("--profile", "F1", "--referral", code_a))[0] == "acceptReferral"
    assert rejection_reason(cli.close("--profile", "F2", "--referral", code_a)) == (
        "ReferralLimitReached"
    )
    assert cli.ledger("F2") == []
    assert cli.current("A") == 100
    assert types(cli.close("--profile", "F2", "--referral", code_b))[0] == "acceptReferral"
    assert cli.json("referral", "show", code_a)["usageCounter"] == 1
    cli.check()


def test_rollback_gives_a_redeem_referral_limit_back(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(referral_campaign(("redeemReferral", 1, "campaign")))
    code_a, code_b = cli.code("ref", "A", "CODE-A"), cli.code("ref", "B", "CODE-B")
    cli.close("S1", "--profile", "F1", "--referral", code_a)
    assert rejection_reason(cli.close("--profile", "F2", "--referral", code_b, "--dry-run")) == (
        "CampaignLimitReached"
    )
    ok(cli("session", "cancel", "S1"))
    again = cli.close("S2", "--profile", "F2", "--referral", code_b)
    assert types(again) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    assert cli.current("A") == 0
    assert cli.current("B") == 100
    cli.check()


# --- campaign limits: createReferral -------------------------------------------------------------


def test_create_referral_limit_per_campaign(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(referral_campaign(("createReferral", 2, "campaign")))
    for profile in ("A", "B"):
        assert types(cli.register(profile)) == ["referralCreated"]
    third = cli.register("C")
    assert third["effects"] == []
    assert third["createdReferrals"] == []
    [reason] = blocked(third)
    assert reason["effectIndex"] == 0
    assert reason["ruleName"] == "code"
    assert reason["campaignID"] == talon_id(cli, "campaign", "ref")
    assert "CampaignLimitReached" in reason["details"]
    quiet = ok(cli("profile", "update", "D", "-q"))
    assert quiet.stdout == ""
    words = ok(cli("profile", "update", "E"))
    assert "CampaignLimitReached" in words.stderr
    listed = cli.json("referral", "list")
    assert sorted(r["advocateProfileIntegrationId"] for r in listed) == ["A", "B"]
    cli.check()


def test_create_referral_limit_per_profile(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(
        '[campaign]\nid = "ref"\nstate = "enabled"\n'
        + with_limits(("createReferral", 2, "profile"))
        + """
[[rules]]
name = "a code on every profile update"
when = []
then = [{ effect = "create_referral_code" }]
"""
    )
    assert types(cli.register("A")) == ["referralCreated"]
    assert types(cli.register("A")) == ["referralCreated"]
    third = cli.register("A")
    assert third["effects"] == []
    [reason] = blocked(third)
    assert reason["effectIndex"] == 0
    assert "ProfileLimitReached" in reason["details"]
    assert types(cli.register("B")) == ["referralCreated"]
    assert len(cli.json("referral", "list", "--advocate", "A")) == 2
    assert len(cli.json("referral", "list", "--advocate", "B")) == 1
    cli.check()


# --- campaign limits: addLoyaltyPoints counts points ---------------------------------------------


def test_add_loyalty_points_limit_per_campaign_counts_points(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(points_campaign(("addLoyaltyPoints", 200, "campaign")))
    assert points(cli.close("S1", "--profile", "P1")) == [("P1", 100)]
    assert points(cli.close("S2", "--profile", "P2")) == [("P2", 100)]
    third = cli.close("S3", "--profile", "P3")
    assert points(third) == []
    [reason] = blocked(third)
    assert reason["effectIndex"] == 0
    assert reason["ruleName"] == "close"
    assert "CampaignLimitReached" in reason["details"]
    assert cli.balance("P3")["currentBalance"] == 0
    assert cli.ledger("P3") == []
    assert cli.current("P1") == 100
    assert cli.current("P2") == 100
    cli.check()


def test_add_loyalty_points_limit_per_profile(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(points_campaign(("addLoyaltyPoints", 100, "profile")))
    assert points(cli.close("S1", "--profile", "P")) == [("P", 100)]
    second = cli.close("S2", "--profile", "P")
    assert points(second) == []
    [reason] = blocked(second)
    assert "ProfileLimitReached" in reason["details"]
    assert points(cli.close("S3", "--profile", "Q")) == [("Q", 100)]
    assert cli.current("P") == 100
    assert cli.current("Q") == 100
    cli.check()


def test_add_loyalty_points_limit_counts_the_advocate(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(referral_campaign(("addLoyaltyPoints", 100, "profile")))
    code = cli.code("ref", "ADV", "CODE")
    first = cli.close("--profile", "F1", "--referral", code)
    assert points(first) == [("ADV", 100), ("F1", 50)]
    second = cli.close("--profile", "F2", "--referral", code)
    assert types(second)[0] == "acceptReferral"
    assert points(second) == [("F2", 50)]
    [reason] = blocked(second)
    assert reason["effectIndex"] == 0
    assert "ProfileLimitReached" in reason["details"]
    assert cli.current("ADV") == 100
    cli.check()


def test_rollback_gives_an_add_loyalty_points_limit_back(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(points_campaign(("addLoyaltyPoints", 200, "campaign")))
    cli.close("S1", "--profile", "P1")
    cli.close("S2", "--profile", "P2")
    assert points(cli.close("S3", "--profile", "P3")) == []
    cancelled = cli.json("session", "cancel", "S2")
    assert types(cancelled) == ["rollbackAddedLoyaltyPoints"]
    assert points(cli.close("S4", "--profile", "P4")) == [("P4", 100)]
    assert cli.current("P4") == 100
    assert cli.current("P2") == 0
    assert points(cli.close("S5", "--profile", "P5")) == []
    cli.check()


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('action = "redeemPizza"\nlimit = 1', "action"),
        ('action = "redeemReferral"\nlimit = 0', "limit"),
        ('action = "addLoyaltyPoints"\nlimit = 10\nper = "code"', "per"),
        ('action = "redeemReferral"\nlimit = 1\nper = "friend"', "per"),
        ('action = "redeemReferral"\nlimit = "1"', "limit"),
        ("limit = 1", "action"),
    ],
    ids=[
        "unknown-action",
        "limit-0",
        "points-per-code",
        "unknown-per",
        "limit-not-a-number",
        "no-action",
    ],
)
@pytest.mark.stateless
def test_invalid_limit_tables_are_refused(
    campaign: Callable[[str], Refcamp], table: str, key: str
) -> None:
    cli = campaign(f'[campaign]\nid = "bad"\n\n[[campaign.limits]]\n{table}\n')
    result = cli("campaign", "validate", "--json", now=None)
    assert result.exit_code == 2, result
    [problem] = result.json["problems"]
    assert problem["place"].startswith("[[campaign.limits]] 1")
    assert key in problem["text"].split("[[campaign.limits]] 1")[1]
    assert problem["file"].endswith("campaign.toml") and problem["rule"] is None
    words = cli("campaign", "validate", now=None)
    assert words.exit_code == 2, words
    assert "[[campaign.limits]] 1" in words.stderr
    # No request runs on a directory that does not validate.
    assert cli("session", "close", "--profile", "P").exit_code == 2


# --- campaign schedule and simulated time --------------------------------------------------------

SCHEDULED = points_campaign().replace(
    'state = "enabled"\n',
    'state = "enabled"\nstart = 2026-04-01T00:00:00Z\nend = 2026-07-01T00:00:00+02:00\n',
)


@pytest.mark.parametrize(
    ("now", "why"),
    [
        ("2026-03-31T23:59:59Z", "pts starts at 2026-04-01T00:00:00.000Z"),
        ("2026-06-30T22:00:00Z", "pts ended at 2026-06-30T22:00:00.000Z"),
        ("2026-12-01T00:00:00Z", "pts ended at 2026-06-30T22:00:00.000Z"),
    ],
    ids=["before-start", "at-end", "after-end"],
)
def test_campaign_outside_its_window_does_not_run(
    campaign: Callable[[str], Refcamp], now: str, why: str
) -> None:
    cli = campaign(SCHEDULED)
    words = ok(cli("session", "close", "S1", "--profile", "P", now=now))
    assert "No effects." in words.stdout
    assert "not running" in words.stderr or "No running campaign" in words.stderr
    assert why in words.stderr
    response = cli.close("S2", "--profile", "P", now=now)
    assert response["effects"] == []
    assert cli.ledger("P") == []
    cli.check(now)


@pytest.mark.parametrize(
    "now", ["2026-04-01T00:00:00Z", "2026-05-15T12:00:00Z", "2026-06-30T21:59:59Z"]
)
def test_campaign_inside_its_window_runs(campaign: Callable[[str], Refcamp], now: str) -> None:
    cli = campaign(SCHEDULED)
    response = cli.close("S1", "--profile", "P", now=now)
    assert points(response) == [("P", 100)]
    assert cli.current("P", now=now) == 100
    assert cli.ledger("P")[0]["created"] == now.replace("Z", ".000Z")
    cli.check(now)


def test_refcamp_now_works_like_the_now_option(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(SCHEDULED)
    early = ok(
        cli(
            "session",
            "close",
            "S2",
            "--profile",
            "P",
            now=None,
            env={"REFCAMP_NOW": "2026-03-01T00:00:00Z"},
        )
    )
    assert "pts starts at 2026-04-01T00:00:00.000Z" in early.stderr
    inside = ok(
        cli(
            "session",
            "close",
            "S3",
            "--profile",
            "P",
            "--json",
            now=None,
            env={"REFCAMP_NOW": "2026-05-01T12:00:00+02:00"},
        )
    )
    assert points(inside.json) == [("P", 100)]
    assert inside.json["customerSession"]["created"] == "2026-05-01T10:00:00.000Z"
    # --now wins over REFCAMP_NOW.
    option = ok(
        cli(
            "session",
            "close",
            "S4",
            "--profile",
            "P",
            "--json",
            now="2026-03-01T00:00:00Z",
            env={"REFCAMP_NOW": T0},
        )
    )
    assert option.json["effects"] == []
    cli.check("2026-05-01T12:00:00Z")


@pytest.mark.parametrize(
    "args",
    [
        ("session", "close", "--profile", "P"),
        ("profile", "update", "P"),
        ("loyalty", "add", "P", "--program", "wallet", "--points", "5", "--reason", "r"),
        ("referral", "create", "--campaign", "pts", "--advocate", "P"),
        ("campaign", "list"),
        ("db", "check"),
    ],
    ids=lambda a: "-".join(a[:2]),
)
@pytest.mark.parametrize("bad", ["garbage", "2026-05-01T00:00:00", "2026-13-01T00:00:00Z"])
def test_bad_now_exits_2(
    campaign: Callable[[str], Refcamp], args: tuple[str, ...], bad: str
) -> None:
    cli = campaign(points_campaign())
    assert cli("campaign", "list").exit_code == 0  # a state file to check afterwards
    result = cli(*args, now=bad)
    assert result.exit_code == 2, result
    assert "--now" in result.stderr
    assert result.stdout == ""
    env = cli(*args, now=None, env={"REFCAMP_NOW": bad})
    assert env.exit_code == 2, env
    assert "REFCAMP_NOW" in env.stderr
    cli.check()
    assert cli.json("referral", "list") == []


@pytest.mark.parametrize(
    "args",
    [("referral", "list"), ("loyalty", "ledger", "P"), ("session", "show", "S1")],
    ids=lambda a: "-".join(a[:2]),
)
def test_bad_now_exits_2_for_commands_that_do_not_read_the_clock(
    campaign: Callable[[str], Refcamp], args: tuple[str, ...]
) -> None:
    cli = campaign(points_campaign())
    cli.close("S1", "--profile", "P")
    result = cli(*args, now="garbage")
    assert result.exit_code == 2, result
    assert "--now" in result.stderr
    assert result.stdout == ""
    cli.check()


# --- loyalty: pending and expiry -----------------------------------------------------------------

PENDING = points_campaign(program='pending = "7D"\nvalidity = "30D"')


def test_points_are_pending_then_current_then_expired(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(PENDING)
    response = cli.close("S1", "--profile", "P")
    [effect] = response["effects"]
    assert effect["props"]["value"] == 100
    assert effect["props"]["startDate"] == "2026-05-08T00:00:00.000Z"
    assert effect["props"]["expiryDate"] == "2026-06-07T00:00:00.000Z"
    timeline = [
        (T0, 0, 100, 0),
        ("2026-05-07T23:59:59Z", 0, 100, 0),
        ("2026-05-08T00:00:00Z", 100, 0, 0),
        ("2026-06-06T23:59:59Z", 100, 0, 0),
        ("2026-06-07T00:00:00Z", 0, 0, 100),
        ("2027-01-01T00:00:00Z", 0, 0, 100),
    ]
    for now, active, pending, expired in timeline:
        assert cli.balance("P", now=now) == {
            "currentBalance": active,
            "pendingBalance": pending,
            "expiredBalance": expired,
            "spentBalance": 0,
        }, now
    cli.check("2026-06-07T00:00:00Z")


def test_ledger_shows_start_and_expiry_per_entry(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(PENDING)
    cli.close("S1", "--profile", "P")
    cli.close("S2", "--profile", "P", now="2026-05-03T06:00:00Z")
    entries = cli.ledger("P")
    assert [(e["startDate"], e["expiryDate"], e["created"]) for e in entries] == [
        ("2026-05-08T00:00:00.000Z", "2026-06-07T00:00:00.000Z", "2026-05-01T00:00:00.000Z"),
        ("2026-05-10T06:00:00.000Z", "2026-06-09T06:00:00.000Z", "2026-05-03T06:00:00.000Z"),
    ]
    assert [e["customerSessionId"] for e in entries] == ["S1", "S2"]
    assert cli.balance("P", now="2026-05-09T00:00:00Z")["currentBalance"] == 100
    assert cli.balance("P", now="2026-05-09T00:00:00Z")["pendingBalance"] == 100
    cli.check("2026-05-09T00:00:00Z")


def test_rule_pending_and_validity_override_the_program(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(
        points_campaign(
            program='pending = "7D"\nvalidity = "30D"', rule=', pending = "1D", validity = "10D"'
        )
    )
    [effect] = cli.close("S1", "--profile", "P")["effects"]
    assert effect["props"]["startDate"] == "2026-05-02T00:00:00.000Z"
    assert effect["props"]["expiryDate"] == "2026-05-12T00:00:00.000Z"
    [entry] = cli.ledger("P")
    assert entry["startDate"] == "2026-05-02T00:00:00.000Z"
    assert entry["expiryDate"] == "2026-05-12T00:00:00.000Z"
    assert cli.balance("P", now="2026-05-02T00:00:00Z")["currentBalance"] == 100
    assert cli.balance("P", now="2026-05-12T00:00:00Z")["expiredBalance"] == 100
    cli.check("2026-05-12T00:00:00Z")


def test_rule_immediate_and_unlimited_override_the_program(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(
        points_campaign(
            program='pending = "7D"\nvalidity = "30D"',
            rule=', pending = "immediate", validity = "unlimited"',
        )
    )
    [effect] = cli.close("S1", "--profile", "P")["effects"]
    assert "startDate" not in effect["props"]
    assert "expiryDate" not in effect["props"]
    [entry] = cli.ledger("P")
    assert entry["startDate"] == "2026-05-01T00:00:00.000Z"
    assert entry["expiryDate"] == "unlimited"
    assert cli.current("P") == 100
    assert cli.current("P", now="2030-01-01T00:00:00Z") == 100
    cli.check("2030-01-01T00:00:00Z")


def test_pending_points_on_an_open_session_are_not_booked(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(PENDING.replace("talon_session_closed", "talon_session_created"))
    response = cli.json("session", "update", "S1", "--profile", "P")
    [effect] = response["effects"]
    assert effect["props"]["transactionUUID"] == ""  # not booked
    assert effect["props"]["startDate"] == "2026-05-08T00:00:00.000Z"
    assert cli.ledger("P") == []
    assert cli.balance("P", now="2026-05-09T00:00:00Z")["currentBalance"] == 0
    cli.check()


# --- loyalty add / deduct ------------------------------------------------------------------------


def as_ledger(balance: dict[str, int]) -> dict[str, int]:
    """getLoyaltyBalances' balance (`loyalty add/deduct --json`) in LoyaltyLedger's words."""
    return {
        "currentBalance": balance["activePoints"],
        "pendingBalance": balance["pendingPoints"],
        "expiredBalance": balance["expiredPoints"],
        "spentBalance": balance["spentPoints"],
    }


def adjust(cli: Refcamp, verb: str, profile: str, amount: int, now: str = T0, **kw: str) -> Any:
    program = kw.get("program", "wallet")
    reason = kw.get("reason", f"{verb} by hand")
    return cli(
        "loyalty",
        verb,
        profile,
        "--program",
        program,
        "--points",
        str(amount),
        "--reason",
        reason,
        "--json",
        now=now,
    )


def test_add_then_deduct_by_hand(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(points_campaign())
    added = ok(adjust(cli, "add", "P", 120, reason="goodwill")).json
    assert added["type"] == "addition"
    assert added["amount"] == 120
    assert added["name"] == "goodwill"
    assert added["programId"] == talon_id(cli, "program", "wallet")
    assert stored_entry(cli, added["id"])["profile_id"] == "P"  # Talon.One's entry names nobody
    assert added["expiryDate"] == "unlimited"
    assert added["balance"] == {
        "activePoints": 120,
        "pendingPoints": 0,
        "spentPoints": 0,
        "expiredPoints": 0,
    }
    deducted = ok(adjust(cli, "deduct", "P", 45, "2026-05-02T00:00:00Z", reason="spent")).json
    assert deducted["type"] == "subtraction"
    assert deducted["amount"] == 45
    assert deducted["name"] == "spent"
    assert deducted["balance"] == {
        "activePoints": 75,
        "pendingPoints": 0,
        "spentPoints": 45,
        "expiredPoints": 0,
    }
    assert cli.balance("P", now="2026-05-02T00:00:00Z") == as_ledger(deducted["balance"])
    assert [(e["type"], e["amount"]) for e in cli.ledger("P")] == [
        ("addition", 120),
        ("subtraction", 45),
    ]
    words = ok(cli("loyalty", "add", "P", "--program", "wallet", "--points", "5", "--reason", "x"))
    assert "+5 points for P in wallet" in words.stdout
    cli.check("2026-05-02T00:00:00Z")


def test_add_by_hand_follows_the_program_pending_and_validity(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(PENDING)
    added = ok(adjust(cli, "add", "P", 100)).json
    assert added["startDate"] == "2026-05-08T00:00:00.000Z"
    assert added["expiryDate"] == "2026-06-07T00:00:00.000Z"
    assert added["balance"]["pendingPoints"] == 100
    assert added["balance"]["activePoints"] == 0
    # Pending points cannot be spent yet.
    refused = adjust(cli, "deduct", "P", 1)
    assert refused.exit_code == 1, refused
    assert ok(adjust(cli, "deduct", "P", 100, "2026-05-08T00:00:00Z")).json["balance"] == {
        "activePoints": 0,
        "pendingPoints": 0,
        "spentPoints": 100,
        "expiredPoints": 0,
    }
    cli.check("2026-06-08T00:00:00Z")


def test_deducting_more_than_current_exits_1_and_writes_nothing(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(points_campaign())
    ok(adjust(cli, "add", "P", 100))
    before = cli.ledger("P")
    result = adjust(cli, "deduct", "P", 101)
    assert result.exit_code == 1, result
    assert result.stdout == ""
    assert "100" in result.stderr
    assert cli.ledger("P") == before
    assert cli.balance("P")["currentBalance"] == 100
    assert cli.balance("P")["spentBalance"] == 0
    cli.check()


def test_deduct_spends_the_soonest_expiring_points_first(
    campaign: Callable[[str], Refcamp],
) -> None:
    # The program's points expire after 30 days; the rule's never expire.
    cli = campaign(points_campaign(program='validity = "30D"', rule=', validity = "unlimited"'))
    expiring = ok(adjust(cli, "add", "P", 100)).json
    assert expiring["expiryDate"] == "2026-05-31T00:00:00.000Z"
    [never] = cli.close("S1", "--profile", "P")["effects"]
    assert "expiryDate" not in never["props"]
    assert cli.current("P") == 200
    ok(adjust(cli, "deduct", "P", 50, "2026-05-11T00:00:00Z"))
    assert cli.balance("P", now="2026-05-11T00:00:00Z") == {
        "currentBalance": 150,
        "pendingBalance": 0,
        "expiredBalance": 0,
        "spentBalance": 50,
    }
    assert cli.balance("P", now="2026-06-01T00:00:00Z") == {
        "currentBalance": 100,
        "pendingBalance": 0,
        "expiredBalance": 50,
        "spentBalance": 50,
    }
    cli.check("2026-06-01T00:00:00Z")


def test_deduct_never_spends_expired_or_pending_points(campaign: Callable[[str], Refcamp]) -> None:
    # Manual points expire after 30 days; the rule's points are pending for 7 days, never expire.
    cli = campaign(
        points_campaign(program='validity = "30D"', rule=', pending = "7D", validity = "unlimited"')
    )
    ok(adjust(cli, "add", "P", 100))  # active 05-01 .. 05-31
    cli.close("S1", "--profile", "P", now="2026-06-05T00:00:00Z")  # pending until 06-12
    ok(adjust(cli, "add", "P", 100, "2026-06-05T00:00:00Z"))  # active 06-05 .. 07-05
    ok(adjust(cli, "deduct", "P", 60, "2026-06-06T00:00:00Z"))
    assert cli.balance("P", now="2026-06-06T00:00:00Z") == {
        "currentBalance": 40,
        "pendingBalance": 100,
        "expiredBalance": 100,
        "spentBalance": 60,
    }
    assert cli.balance("P", now="2026-07-10T00:00:00Z") == {
        "currentBalance": 100,
        "pendingBalance": 0,
        "expiredBalance": 140,
        "spentBalance": 60,
    }
    cli.check("2026-07-10T00:00:00Z")


def test_deduct_after_expiry_cannot_spend_expired_points(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(points_campaign(program='validity = "30D"'))
    ok(adjust(cli, "add", "P", 100))
    refused = adjust(cli, "deduct", "P", 1, "2026-05-31T00:00:00Z")
    assert refused.exit_code == 1, refused
    assert cli.balance("P", now="2026-05-31T00:00:00Z")["expiredBalance"] == 100
    assert len(cli.ledger("P")) == 1
    cli.check("2026-05-31T00:00:00Z")


@pytest.mark.parametrize("verb", ["add", "deduct"])
def test_adjusting_an_unknown_program_exits_1(
    campaign: Callable[[str], Refcamp], verb: str
) -> None:
    cli = campaign(points_campaign())
    ok(adjust(cli, "add", "P", 10))
    result = adjust(cli, verb, "P", 5, program="walet")
    assert result.exit_code == 1, result
    assert "walet" in result.stderr
    assert result.stdout == ""
    assert len(cli.ledger("P")) == 1
    cli.check()


@pytest.mark.parametrize("verb", ["add", "deduct"])
@pytest.mark.parametrize("amount", [0, -5])
def test_adjusting_by_no_points_exits_2(
    campaign: Callable[[str], Refcamp], verb: str, amount: int
) -> None:
    cli = campaign(points_campaign())
    ok(adjust(cli, "add", "P", 10))
    result = adjust(cli, verb, "P", amount)
    assert result.exit_code == 2, result
    assert "--points" in result.stderr
    assert result.stdout == ""
    assert len(cli.ledger("P")) == 1
    cli.check()


def test_deduct_from_an_unknown_profile_exits_1(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(points_campaign())
    result = adjust(cli, "deduct", "NOBODY", 1)
    assert result.exit_code == 1, result
    assert "NOBODY" in result.stderr
    assert cli("profile", "show", "NOBODY").exit_code == 1
    cli.check()


def test_add_by_hand_creates_the_profile(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(points_campaign())
    assert cli("profile", "show", "NEW").exit_code == 1
    ok(adjust(cli, "add", "NEW", 10))
    assert cli.json("profile", "show", "NEW")["profile"]["integrationId"] == "NEW"
    assert cli.current("NEW") == 10
    cli.check()


# --- the worked example of docs/lifecycle.md -----------------------------------------------------

SPRING = """
[campaign]
id = "spring-points"
name = "Spring: points on every order"
state = "enabled"
start = 2026-03-01T00:00:00Z
end = 2026-06-01T00:00:00Z

[[campaign.limits]]
action = "addLoyaltyPoints"
limit = 200
per = "profile"

[[loyalty_program]]
id = "spring-wallet"
name = "Spring wallet"
pending = "7D"
validity = "30D"

[[rules]]
name = "Points per order"
when = [{ event = "talon_session_closed" }]

[[rules.then]]  # the docs' one-line `then = [{ ... }]`, as a table
effect = "add_loyalty_points"
program = "spring-wallet"
points = 100
reason = "Order bonus"
"""


def test_worked_example_of_the_lifecycle_docs(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(SPRING)

    def wallet(now: str) -> tuple[int, int, int, int]:
        b = cli.balance("ZOE", "spring-wallet", now=now)
        return (b["currentBalance"], b["pendingBalance"], b["expiredBalance"], b["spentBalance"])

    early = ok(cli("session", "close", "O1", "--profile", "ZOE", now="2026-02-20T10:00:00Z"))
    assert "No effects." in early.stdout
    assert "spring-points starts at 2026-03-01T00:00:00.000Z" in early.stderr

    [o2] = cli.close("O2", "--profile", "ZOE", now="2026-03-02T10:00:00Z")["effects"]
    assert o2["props"]["startDate"] == "2026-03-09T10:00:00.000Z"
    assert o2["props"]["expiryDate"] == "2026-04-08T10:00:00.000Z"
    assert wallet("2026-03-05T10:00:00Z") == (0, 100, 0, 0)

    assert points(cli.close("O3", "--profile", "ZOE", now="2026-03-10T10:00:00Z")) == [("ZOE", 100)]
    o4 = ok(cli("session", "close", "O4", "--profile", "ZOE", now="2026-03-12T10:00:00Z"))
    assert "No effects." in o4.stdout
    assert "ProfileLimitReached" in o4.stderr
    assert "200 points per profile" in o4.stderr
    assert wallet("2026-03-12T10:00:00Z") == (100, 100, 0, 0)

    ok(
        cli(
            "loyalty",
            "deduct",
            "ZOE",
            "--program",
            "spring-wallet",
            "--points",
            "150",
            "--reason",
            "Gift card",
            now="2026-03-20T10:00:00Z",
        )
    )
    assert wallet("2026-03-20T10:00:00Z") == (50, 0, 0, 150)
    assert wallet("2026-04-10T10:00:00Z") == (50, 0, 0, 150)

    cancelled = cli.json("session", "cancel", "O3", now="2026-04-10T10:00:00Z")
    assert [(e["effectType"], e["props"]["value"]) for e in cancelled["effects"]] == [
        ("rollbackAddedLoyaltyPoints", 100)
    ]
    # 50 of O3's points were spent: owed as negative points, the current balance 0
    assert wallet("2026-04-10T10:00:00Z") == (0, 0, 0, 150)
    at = "2026-04-10T10:00:00Z"
    owed = cli.json("loyalty", "balance", "ZOE", "--program", "spring-wallet", now=at)
    assert owed["balance"]["negativePoints"] == 50

    o5 = cli.close("O5", "--profile", "ZOE", now="2026-04-10T10:00:00Z")
    assert points(o5) == [("ZOE", 100)]
    cli.check("2026-04-10T10:00:00Z")


def test_a_bare_date_means_midnight_utc(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(SCHEDULED)
    response = cli.close("S1", "--profile", "P", now="2026-05-01")
    assert response["customerSession"]["created"] == "2026-05-01T00:00:00.000Z"
    assert points(response) == [("P", 100)]
    early = cli.close("S2", "--profile", "P", now="2026-03-31")
    assert early["effects"] == []
    cli.check()


# --- out-of-range amounts and times --------------------------------------------------------------


def test_adding_too_many_points_exits_2(campaign: Callable[[str], Refcamp]) -> None:
    cli = campaign(points_campaign())
    ok(adjust(cli, "add", "P", 10))
    result = adjust(cli, "add", "P", 99999999999999999999)
    assert "internal error" not in result.stderr
    assert result.exit_code == 2, result
    assert "--points" in result.stderr
    assert len(cli.ledger("P")) == 1
    cli.check()


@pytest.mark.stateless
def test_durations_longer_than_a_century_are_refused_when_loading(
    campaign: Callable[[str], Refcamp],
) -> None:
    cli = campaign(points_campaign(program='pending = "999999999D"'))
    result = cli("campaign", "validate", now=None)
    assert result.exit_code == 2, result
    assert "pending: '999999999D' is longer than 100 years" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("loyalty", "add", "P", "--program", "wallet", "--points", "5", "--reason", "r"),
        ("session", "close", "S1", "--profile", "P"),
    ],
    ids=["late-now-on-add", "late-now-on-close"],
)
def test_durations_past_year_9999_fail_cleanly(
    campaign: Callable[[str], Refcamp], args: tuple[str, ...]
) -> None:
    cli = campaign(points_campaign(program='validity = "30D"'))
    assert cli("campaign", "validate", now=None).exit_code == 0
    now = "9999-12-31T00:00:00Z"
    result = cli(*args, now=now)
    assert "internal error" not in result.stderr, result
    assert result.exit_code == 2, result  # the time given is too late: invalid input
    assert "past the year 9999" in result.stderr
    assert cli("loyalty", "ledger", "P", "--json", now=now).exit_code == 1  # nothing written
    cli.check(now)


def test_month_duration_ending_after_year_9999_fails_cleanly(tmp_path: Path) -> None:
    directory = tmp_path / "late"
    directory.mkdir()
    (directory / "late.toml").write_text(
        '[campaign]\nid = "late"\nstate = "enabled"\n\n[campaign.referrals]\nvalid_for = "1Y"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "REFCAMP_DEBUG"}
    command = [sys.executable, "-m", "refcamp", "--campaigns", str(directory)]
    _late_referral(command, env)


def _late_referral(command: list[str], env: dict[str, str]) -> None:
    try:
        late = subprocess.run(
            [
                *command,
                "--now",
                "9999-06-01T00:00:00Z",
                "referral",
                "create",
                "--campaign",
                "late",
                "--advocate",
                "B",
            ],
            capture_output=True,
            text=True,
            timeout=15,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("refcamp did not return within 15 s (endless loop)")
    assert "internal error" not in late.stderr, late.stderr
    assert late.returncode in (0, 1, 2), late.stderr
