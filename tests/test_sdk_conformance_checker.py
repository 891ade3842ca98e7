"""The SDK conformance checker itself: it passes what talon_one@5.0.1-rc reads whole and fails the
rest. (The checks of refcamp's own responses live with the tests of each command.)"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from sdk_conformance import assert_conforms, ensure_sdk, problems

# slow: node and the Talon.One SDK (installed on first use); stateless: no test here touches the
# state (their PostgreSQL leg was the SQLite one again)
pytestmark = [pytest.mark.slow, pytest.mark.stateless]

STATE = {"effects": [], "createdCoupons": [], "createdReferrals": []}


def effect(effect_type: str, props: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "campaignId": 1,
        "rulesetId": 2,
        "ruleIndex": 0,
        "ruleName": "rule",
        "effectType": effect_type,
        "props": props,
        **fields,
    }


def state(*effects: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**STATE, "effects": list(effects), **fields}


POINTS = {
    "name": "Referral points",
    "programId": 3,
    "subLedgerId": "",
    "value": 10.5,
    "recipientIntegrationId": "alice",
    "transactionUUID": "6f9619ff-8b86-d011-b42d-00cf4fc964ff",
    "startDate": "2024-05-01T10:00:00Z",
}

SESSION = {
    "id": 7,
    "integrationId": "s1",
    "created": "2024-05-01T10:00:00.123+02:00",
    "applicationId": 1,
    "profileId": "alice",
    "firstSession": True,
    "state": "open",
    "cartItems": [],
    "attributes": {},
    "total": 0,
    "cartItemTotal": 0,
    "additionalCostTotal": 0,
    "updated": "2024-05-01T10:00:00Z",
}

LEDGER_ENTRY = {  # a LoyaltyLedgerEntry, as in LoyaltySubLedger.transactions
    "created": "2024-05-01T10:00:00Z",
    "programID": 3,
    "customerProfileID": "alice",
    "type": "addition",
    "amount": 10.5,
    "name": "Referral points",
    "subLedgerID": "",
    "startDate": "2024-05-01T10:00:00Z",
    "expiryDate": "2025-05-01T10:00:00Z",
}


REJECTED_REFERRAL = {"value": "R", "rejectionReason": "ReferralNotFound"}


def only(model: str, body: Any, extras: list[str] | None = None) -> list[str]:
    item: dict[str, Any] = {"model": model, "body": body}
    if extras is not None:
        item["extras"] = extras
    (found,) = problems([item])
    return found


def test_conforming_bodies_pass_in_one_batch() -> None:
    error = {
        "message": "m",
        "errors": [{"title": "t", "details": "d", "source": {"pointer": "/x"}}],
        "StatusCode": 400,
    }
    assert problems(
        [
            ("IntegrationStateV2", STATE),
            (
                "IntegrationStateV2",
                state(effect("addLoyaltyPoints", POINTS), customerSession=SESSION),
            ),
            ("IntegrationStateV2", state(effect("rejectReferral", REJECTED_REFERRAL))),
            ("ErrorResponseWithStatus", error),
            ("LoyaltyLedgerEntry", LEDGER_ENTRY),
            ("IntegrationStateV2", {**STATE, "dryRun": True}, ["dryRun"]),
        ]
    ) == [[], [], [], [], [], []]
    assert_conforms("IntegrationStateV2", STATE)


def test_a_string_campaign_id_is_not_an_integer() -> None:
    body = state(effect("addLoyaltyPoints", POINTS, campaignId="medium-referral"))
    assert only("IntegrationStateV2", body) == [
        '/effects/0/campaignId: expected integer, got string "medium-referral"'
    ]


def test_a_float_where_the_api_has_an_integer() -> None:
    body = state(effect("addLoyaltyPoints", POINTS | {"programId": 3.5}))
    assert only("IntegrationStateV2", body) == [
        "/effects/0/props/programId: expected integer, got number 3.5"
    ]


def test_a_missing_required_field_of_the_session() -> None:
    session = {k: v for k, v in SESSION.items() if k != "applicationId"}
    assert only("IntegrationStateV2", state(customerSession=session)) == [
        "/customerSession: missing required field applicationId"
    ]


def test_a_rejection_reason_the_sdk_does_not_know_for_referrals() -> None:
    # ProfileRequired is a CouponRejectionReason only.
    rejected = {"value": "R", "rejectionReason": "ProfileRequired"}
    [(found,), (coupon,)] = [
        problems([("IntegrationStateV2", state(effect(kind, rejected)))])
        for kind in ("rejectReferral", "rejectCoupon")
    ]
    assert found[0].startswith(
        '/effects/0/props/rejectionReason: "ProfileRequired" is not one of [ReferralNotFound, '
    )
    assert found[0].endswith("(ReferralRejectionReason.ReasonEnum)")
    assert len(found) == 1
    assert coupon == []


def test_an_unknown_top_level_field_is_lost_unless_allowed() -> None:
    body = {**STATE, "explanation": {}, "dryRun": True}
    assert only("IntegrationStateV2", body) == [
        "/explanation: field not in model IntegrationStateV2",
        "/dryRun: field not in model IntegrationStateV2",
    ]
    assert only("IntegrationStateV2", body, ["explanation", "dryRun"]) == []
    nested = state(loyalty={"programs": {}, "dryRun": True})
    assert only("IntegrationStateV2", nested, ["dryRun"]) == [
        "/loyalty/dryRun: field not in model Loyalty"
    ]


def test_a_null_required_string() -> None:
    body = state(effect("addLoyaltyPoints", POINTS | {"transactionUUID": None}))
    assert only("IntegrationStateV2", body) == [
        "/effects/0/props/transactionUUID: required field is null (string)"
    ]


def test_a_date_that_is_not_a_date_time() -> None:
    assert only("LoyaltyLedgerEntry", LEDGER_ENTRY | {"expiryDate": "unlimited"}) == [
        '/expiryDate: expected date-time string, got string "unlimited"'
    ]
    assert only("LoyaltyLedgerEntry", LEDGER_ENTRY | {"expiryDate": "2025-05-01"}) == [
        '/expiryDate: expected date-time string, got string "2025-05-01"'
    ]


def test_maps_arrays_and_wrong_kinds() -> None:
    ledger = {"currentBalance": 1, "pendingBalance": 0, "expiredBalance": 0, "spentBalance": 0}
    program = {"id": 3, "title": "P", "name": "p", "ledger": ledger}
    program["ledger"] |= {"tentativeCurrentBalance": "1"}
    body = state(
        loyalty={"programs": {"a/b": program}},
        createdCoupons=None,
        coupons="x",
        customerSession=SESSION | {"state": "done", "firstSession": "false"},
    )
    assert only("IntegrationStateV2", body) == [
        "/: the SDK's IntegrationStateV2.constructFromObject threw TypeError: "
        "data.map is not a function",
        "/createdCoupons: required field is null (array of Coupon)",
        '/loyalty/programs/a~1b/ledger/tentativeCurrentBalance: expected number, got string "1"',
        '/coupons: expected array, got string "x"',
        '/customerSession/firstSession: expected boolean, got string "false"',
        '/customerSession/state: "done" is not one of [open, closed, partially_returned, '
        "cancelled] (CustomerSessionV2.StateEnum)",
    ]


def test_an_effect_type_without_a_props_model() -> None:
    assert only("IntegrationStateV2", state(effect("noSuch", {}))) == [
        '/effects/0/effectType: "noSuch" has no NoSuchEffectProps model in the SDK'
    ]


def test_assert_conforms_lists_every_problem() -> None:
    body = state(effect("addLoyaltyPoints", POINTS | {"transactionUUID": None}), x=1)
    with pytest.raises(AssertionError) as raised:
        assert_conforms("IntegrationStateV2", body)
    assert str(raised.value).splitlines() == [
        "IntegrationStateV2 body does not conform to talon_one@5.0.1-rc:",
        "  /effects/0/props/transactionUUID: required field is null (string)",
        "  /x: field not in model IntegrationStateV2",
    ]


@pytest.mark.parametrize("stdin", ["{}", "[1]", '[{"model": "Nope", "body": {}}]'])
def test_bad_input_exits_2(stdin: str) -> None:
    done = subprocess.run(
        ["node", str(ensure_sdk() / "conformance.js")],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")


def test_problems_raises_on_bad_input() -> None:
    with pytest.raises(ValueError, match='no model "Nope" in the SDK'):
        problems([("Nope", {})])


def test_every_model_of_the_sdk_is_read() -> None:
    """Each model file yields a schema, and its class is the one the package index exports."""
    script = """
        const c = require('./conformance.js');
        const sdk = require('talon_one');
        const names = require('fs').readdirSync(c.MODEL_DIR)
            .filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3));
        names.forEach(c.loadSchema);
        const odd = names.filter((n) => n in sdk && sdk[n] !== c.modelClass(n));
        console.log(JSON.stringify([names.length, odd]));
    """
    done = subprocess.run(
        ["node", "-e", script], cwd=ensure_sdk(), capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == [406, []]
