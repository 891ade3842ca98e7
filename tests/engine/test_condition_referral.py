"""{ referral = "valid" }: the session's referral code is valid for this campaign. The code gets
exactly one verdict per evaluation: acceptReferral from the first fired rule that checks it, or
rejectReferral with Talon.One's reason, checked in order so the most fundamental one shows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from kit import NOW, campaign, catalog, facts, failed, profile, rule, types
from kit import referral as referral_code

from refcamp.engine import Evaluation, evaluate
from refcamp.models import Referral

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

CLOSED = ("talon_session_closed",)
REFERRAL_RULE = rule('{ referral = "valid" }, { event = "talon_session_closed" }', name="redeem")
RULES = catalog(campaign(REFERRAL_RULE, cid="ref"))


def code(**fields: Any) -> Referral:
    """Code CODE-1 of campaign `ref`, made by advocate ADV (fields override)."""
    return referral_code(**{"campaign_id": "ref", **fields})


def redeem(known: Referral | None, **fields: Any) -> Evaluation:
    """The evaluation of closing friend F's session carrying CODE-1 (`known` the stored code)."""
    fields.setdefault("events", CLOSED)
    fields.setdefault("customer", profile("F"))
    return evaluate(RULES, facts(referral_code="CODE-1", referral=known, **fields))


def rejected(evaluation: Evaluation) -> tuple[str, str]:
    """The one rejectReferral's reason and details."""
    assert types(evaluation) == ["rejectReferral"], evaluation.effects
    props = evaluation.effects[0].props
    assert props["value"] == "CODE-1"
    return props["rejectionReason"], props["details"]


def test_a_valid_code_is_accepted_once_by_the_rule_that_checks_it() -> None:
    rules = catalog(
        campaign(REFERRAL_RULE, rule('{ referral = "valid" }', name="again"), cid="ref")
    )
    evaluation = evaluate(rules, facts(referral_code="CODE-1", referral=code(), events=CLOSED))
    assert types(evaluation) == [
        "acceptReferral",
        "showNotification",
        "showNotification",
    ]
    accepted = evaluation.effects[0]
    assert (accepted.rule_name, accepted.props) == ("redeem", {"value": "CODE-1"})
    check = evaluation.rules[0].conditions[0].check
    assert (check.seen, check.needed) == (
        "CODE-1 (valid)",
        "a valid referral code of this campaign",
    )


@pytest.mark.parametrize(
    ("known", "fields", "reason", "details"),
    [
        (None, {}, "ReferralNotFound", "no referral code 'CODE-1' exists"),
        (code(), {"anonymous": True}, "ReferralRecipientDoesNotMatch", "an anonymous session"),
        (code(campaign_id="gone"), {}, "ReferralPartOfNotRunningCampaign", "campaign gone is"),
        (
            code(),
            {"campaign_states": {"ref": "disabled"}},
            "ReferralPartOfNotRunningCampaign",
            "ref is disabled",
        ),
        (
            code(),
            {"customer": profile("ADV")},
            "ReferralRecipientIdSameAsAdvocate",
            "ADV is the advocate of CODE-1; a friend must redeem it",
        ),
        (
            code(friend_id="OTHER"),
            {},
            "ReferralRecipientDoesNotMatch",
            "CODE-1 was made for OTHER",
        ),
        (
            code(start_date=NOW + timedelta(days=1)),
            {},
            "ReferralStartDateInFuture",
            "CODE-1 is valid from 2026-05-02",
        ),
        (code(expiry_date=NOW), {}, "ReferralExpired", "CODE-1 expired at 2026-05-01"),
        (
            code(usage_limit=2, usage_counter=2),
            {},
            "ReferralLimitReached",
            "CODE-1 has been used 2 of 2 times",
        ),
    ],
)
def test_an_invalid_code_is_rejected_with_its_reason(
    known: Referral | None, fields: dict[str, Any], reason: str, details: str
) -> None:
    evaluation = redeem(known, **fields)
    found, why = rejected(evaluation)
    assert found == reason
    assert why.startswith(details), why


def test_the_check_says_why_the_code_is_not_valid() -> None:
    evaluation = redeem(code(expiry_date=NOW))
    _, check = failed(evaluation, "redeem")
    assert check.seen == "CODE-1: ReferralExpired"
    nothing = evaluate(RULES, facts(events=CLOSED))
    assert failed(nothing, "redeem")[1].seen == "no referral code"
    assert nothing.effects == ()


def test_a_valid_code_whose_rule_fails_elsewhere_is_rejected_by_condition() -> None:
    evaluation = redeem(code(), events=("talon_session_updated",))
    reason, details = rejected(evaluation)
    assert reason == "ReferralRejectedByCondition"
    assert evaluation.effects[0].props["conditionIndex"] == 1
    assert details.startswith("rule 'redeem': Customer Session Closing (saw talon_session_updated")


def test_a_code_of_a_campaign_no_rule_of_which_checks_codes_is_not_triggered() -> None:
    rules = catalog(campaign(rule('{ event = "talon_session_closed" }'), cid="ref"))
    evaluation = evaluate(rules, facts(referral_code="CODE-1", referral=code(), events=CLOSED))
    assert types(evaluation) == ["showNotification", "rejectReferral"]
    assert evaluation.effects[1].props["rejectionReason"] == "ReferralPartOfNotTriggeredCampaign"


def test_a_redemption_limit_rejects_the_code_with_the_limit_reason() -> None:
    limited = campaign(
        REFERRAL_RULE,
        cid="ref",
        extra='\n[[campaign.limits]]\naction = "redeemReferral"\nlimit = 1\nper = "profile"\n',
    )
    used = {("ref", "redeemReferral", "profile", "F"): 1}
    evaluation = evaluate(
        catalog(limited),
        facts(
            referral_code="CODE-1",
            referral=code(),
            events=CLOSED,
            customer=profile("F"),
            usage=used,
        ),
    )
    reason, details = rejected(evaluation)
    assert reason == "ProfileLimitReached"
    assert details == "limit 1 redeemReferral per profile: 1 used"
