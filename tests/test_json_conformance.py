"""Every command's `--json` parses in Talon.One's own SDK: the body of the endpoint the command
answers for, with no field lost, every required field present, every integer an integer and every
enum value one the SDK knows. (The HTTP door's bodies are checked in test_serve_sdk.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Run
from sdk_conformance import ensure_sdk, problems

# refcamp's own extras, documented in the README.
EXTRAS = ("explanation", "dryRun", "generated")


@pytest.fixture(scope="module", autouse=True)
def sdk() -> Path:
    return ensure_sdk()


def out(run: Run, *args: str) -> Any:
    result = run(*args)
    assert result.exit_code == 0, result
    return result.json


def test_every_command_json_parses_in_the_sdk(run: Run, campaigns_dir: Path) -> None:
    for campaign in ("medium-referral", "spring-coupons"):
        out(run, "campaign", "activate", campaign, "--json")
    checked: list[tuple[str, Any, tuple[str, ...]]] = []

    def check(model: str, body: Any, extras: tuple[str, ...] = EXTRAS) -> Any:
        checked.append((model, body, extras))
        return body

    registered = check("IntegrationStateV2", out(run, "profile", "update", "ADV", "--json"))
    code = registered["createdReferrals"][0]["code"]
    check("IntegrationStateV2", out(run, "profile", "update", "NEW", "--dry-run", "--json"))
    check(
        "IntegrationStateV2",
        out(run, "profile", "update", "ADV", "--attr", "tier=gold", "--explain", "--json"),
    )
    coupon = out(run, "coupon", "create", "--campaign", "spring-coupons", "--json")[0]
    check("Coupon", coupon)
    open_session = out(
        run, "session", "update", "S1", "--profile", "F1", "--referral", code,
        "--coupon", coupon["value"], "--item", "sku=a,price=30,quantity=2", "--json",
    )  # fmt: skip
    check("IntegrationStateV2", open_session)  # tentative points: transactionUUID "" not null
    check(
        "IntegrationStateV2",
        out(run, "session", "close", "S1", "--profile", "F1", "--referral", code, "--json"),
    )
    for args in (
        ["--profile", "ADV", "--referral", code],  # the advocate's own code
        ["--profile", "F2", "--referral", "NOPE-NOPE"],  # unknown
        ["--anonymous", "--referral", code],  # an anonymous session
        ["--profile", "F3", "--coupon", coupon["value"]],  # used up
        ["--profile", "F3", "--coupon", "NO-SUCH-COUPON"],  # unknown coupon: campaign id 0
    ):
        check("IntegrationStateV2", out(run, "session", "close", *args, "--json"))
    check(
        "IntegrationStateV2",
        out(run, "session", "return", "S1", "--item", "position=0,quantity=1", "--json"),
    )
    check("ReopenSessionResponse", out(run, "session", "reopen", "S1", "--json"))
    check("IntegrationStateV2", out(run, "session", "cancel", "S1", "--json"))
    check(
        "IntegrationStateV2",
        out(run, "event", "track", "review_posted", "--profile", "F1", "--json"),
    )
    check("IntegrationCustomerSessionResponse", out(run, "session", "show", "S1", "--json"))
    check("CustomerInventory", out(run, "profile", "show", "F1", "--json"))
    check("Loyalty", out(run, "loyalty", "balance", "ADV", "--json"))
    check("LoyaltyBalances", out(run, "loyalty", "balance", "ADV", "--program", "1", "--json"))
    check("InlineResponse2002", out(run, "loyalty", "ledger", "ADV", "--json"))
    adjusted = out(
        run, "loyalty", "add", "ADV", "--program", "sample-wallet", "--points", "5",
        "--reason", "goodwill", "--json",
    )  # fmt: skip
    check("LedgerTransactionLogEntryIntegrationAPI", adjusted, ("balance", "subledgerBalances"))
    check(
        "Referral", out(run, "referral", "create", "--campaign", "1", "--advocate", "A9", "--json")
    )
    for referral in out(run, "referral", "list", "--json"):
        check("Referral", referral)
    for listed in out(run, "campaign", "list", "--json"):
        check("Campaign", listed, ("refcamp",))
    check("Campaign", out(run, "campaign", "show", "medium-referral", "--json"), ("refcamp",))

    found = problems(checked)
    wrong = {
        f"{model} #{i}": p
        for i, ((model, _, _), p) in enumerate(zip(checked, found, strict=True))
        if p
    }
    assert not wrong, json.dumps(wrong, indent=2)


def test_integer_ids_are_stable_and_accepted_where_readable_ids_are(
    run: Run, campaigns_dir: Path
) -> None:
    listed = out(run, "campaign", "list", "--json")
    ids = {c["refcamp"]["id"]: c["id"] for c in listed}
    assert sorted(ids.values()) == list(range(1, len(ids) + 1))
    number = str(ids["medium-referral"])
    activated = out(run, "campaign", "activate", number, "--json")
    assert activated["refcamp"]["id"] == "medium-referral"
    assert activated["state"] == "enabled"
    assert {c["refcamp"]["id"]: c["id"] for c in out(run, "campaign", "list", "--json")} == ids


def test_a_talon_id_set_in_the_toml_is_used(run: Run, campaigns_dir: Path) -> None:
    path = campaigns_dir / "medium-referral.toml"
    text = path.read_text()
    path.write_text(text.replace("[campaign]\n", "[campaign]\ntalon_id = 4711\n", 1))
    listed = {c["refcamp"]["id"]: c["id"] for c in out(run, "campaign", "list", "--json")}
    assert listed["medium-referral"] == 4711
    assert out(run, "campaign", "show", "4711", "--json")["refcamp"]["id"] == "medium-referral"


@pytest.mark.stateless
def test_two_campaigns_cannot_share_a_talon_id(run: Run, campaigns_dir: Path) -> None:
    for name in ("medium-referral.toml", "spring-coupons.toml"):
        path = campaigns_dir / name
        path.write_text(path.read_text().replace("[campaign]\n", "[campaign]\ntalon_id = 7\n", 1))
    result = run("campaign", "list")
    assert result.exit_code == 2
    assert "talon_id: 7 is already the id of campaign" in result.stderr


def test_row_ids_and_first_session(run: Run, campaigns_dir: Path) -> None:
    first = out(run, "session", "close", "S1", "--profile", "P", "--json")
    second = out(run, "session", "close", "S2", "--profile", "P", "--json")
    other = out(run, "session", "close", "S3", "--profile", "Q", "--json")
    assert [d["customerSession"]["id"] for d in (first, second, other)] == [1, 2, 3]
    assert [d["customerSession"]["firstSession"] for d in (first, second, other)] == [
        True,
        False,
        True,
    ]
    assert [d["customerProfile"]["id"] for d in (first, second, other)] == [1, 1, 2]
    shown = out(run, "session", "show", "S2", "--json")["customerSession"]
    assert (shown["id"], shown["firstSession"]) == (2, False)


def test_a_talon_id_another_campaign_holds_is_refused(run: Run, campaigns_dir: Path) -> None:
    ids = {c["refcamp"]["id"]: c["id"] for c in out(run, "campaign", "list", "--json")}
    taken = ids["medium-referral"]
    path = campaigns_dir / "spring-coupons.toml"
    path.write_text(
        path.read_text().replace("[campaign]\n", f"[campaign]\ntalon_id = {taken}\n", 1)
    )
    result = run("campaign", "list", "--json")
    assert result.exit_code == 2
    assert (
        f"talon_id {taken} is already the id this state file gave campaign 'medium-referral'"
        in (result.stderr)
    )
