"""The engine on its own: pure evaluation, no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from refcamp.campaigns import load
from refcamp.engine import Facts, evaluate
from refcamp.models import Catalog, Profile, Referral, Session
from refcamp.paths import SAMPLES

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ENABLED = {"medium-referral": "enabled"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load(SAMPLES)


def profile(pid: str) -> Profile:
    return Profile(pid, {}, NOW, NOW)


def referral(
    code: str = "JY9P-HYL8", advocate: str = "NEWCUSTOMER", campaign: str = "medium-referral"
) -> Referral:
    return Referral(code, campaign, advocate, None, 0, 0, None, None, NOW)


def closing(friend: str | None, code: str | None, known: Referral | None) -> Facts:
    session = Session("S1", friend, "closed", referral_code=code)
    return Facts(
        NOW,
        ("talon_session_closed",),
        profile(friend) if friend else None,
        session,
        known,
        ENABLED,
    )


def types(evaluation) -> list[str]:
    return [e.effect_type for e in evaluation.effects]


def test_registration_plans_one_referral_code(catalog: Catalog) -> None:
    facts = Facts(NOW, ("talon_profile_created",), profile("NEWCUSTOMER"), campaign_states=ENABLED)
    evaluation = evaluate(catalog, facts)
    assert types(evaluation) == ["referralCreated"]
    effect = evaluation.effects[0]
    assert effect.params["owner"] == "NEWCUSTOMER"
    assert effect.params["pattern"] == "####-####"
    assert (effect.campaign_id, effect.rule_index, effect.rule_name) == (
        "medium-referral",
        0,
        "Generate a referral code",
    )


def test_profile_update_plans_nothing(catalog: Catalog) -> None:
    facts = Facts(NOW, ("talon_profile_updated",), profile("NEWCUSTOMER"), campaign_states=ENABLED)
    assert evaluate(catalog, facts).effects == ()


def test_disabled_campaign_does_not_run(catalog: Catalog) -> None:
    facts = Facts(
        NOW,
        ("talon_profile_created",),
        profile("NEWCUSTOMER"),
        campaign_states={"medium-referral": "disabled"},
    )
    evaluation = evaluate(catalog, facts)
    assert evaluation.effects == ()
    assert evaluation.not_running["medium-referral"] == "medium-referral is disabled"


def test_initial_state_applies_when_database_has_none(catalog: Catalog) -> None:
    facts = Facts(NOW, ("talon_profile_created",), profile("X"), campaign_states={})
    assert "medium-referral" in evaluate(catalog, facts).not_running  # TOML says disabled


def test_valid_referral_on_close_rewards_advocate_and_friend(catalog: Catalog) -> None:
    evaluation = evaluate(catalog, closing("FRIEND1", "JY9P-HYL8", referral()))
    assert types(evaluation) == ["acceptReferral", "addLoyaltyPoints", "addLoyaltyPoints"]
    advocate, friend = evaluation.effects[1].props, evaluation.effects[2].props
    assert (advocate["recipientIntegrationId"], advocate["value"]) == ("NEWCUSTOMER", 100)
    assert advocate["name"] == "100 Bonus points for Advocate"
    assert (friend["recipientIntegrationId"], friend["value"]) == ("FRIEND1", 50)
    assert friend["programId"] == "sample-wallet" and friend["subLedgerId"] == ""


@pytest.mark.parametrize(
    ("friend", "code", "known", "reason"),
    [
        ("FRIEND1", "NOPE-NOPE", None, "ReferralNotFound"),
        ("NEWCUSTOMER", "JY9P-HYL8", referral(), "ReferralRecipientIdSameAsAdvocate"),
        (None, "JY9P-HYL8", referral(), "ReferralRecipientDoesNotMatch"),
        ("FRIEND1", "JY9P-HYL8", referral(campaign="gone"), "ReferralPartOfNotRunningCampaign"),
    ],
)
def test_invalid_referral_is_rejected_with_its_reason(
    catalog: Catalog, friend, code, known, reason
) -> None:
    evaluation = evaluate(catalog, closing(friend, code, known))
    assert types(evaluation) == ["rejectReferral"]
    props = evaluation.effects[0].props
    assert props["value"] == code
    assert props["rejectionReason"] == reason


def test_referral_of_disabled_campaign_is_not_running(catalog: Catalog) -> None:
    facts = closing("FRIEND1", "JY9P-HYL8", referral())
    facts = Facts(
        facts.now,
        facts.events,
        facts.profile,
        facts.session,
        facts.referral,
        {"medium-referral": "disabled"},
    )
    evaluation = evaluate(catalog, facts)
    assert [e.props["rejectionReason"] for e in evaluation.effects] == [
        "ReferralPartOfNotRunningCampaign"
    ]


def test_valid_code_on_open_session_is_rejected_by_condition(catalog: Catalog) -> None:
    session = Session("S1", "FRIEND1", "open", referral_code="JY9P-HYL8")
    facts = Facts(NOW, ("talon_session_updated",), profile("FRIEND1"), session, referral(), ENABLED)
    evaluation = evaluate(catalog, facts)
    assert types(evaluation) == ["rejectReferral"]
    props = evaluation.effects[0].props
    assert props["rejectionReason"] == "ReferralRejectedByCondition"
    assert props["conditionIndex"] == 1  # the event condition of rule 2


def test_explanation_records_seen_and_needed(catalog: Catalog) -> None:
    evaluation = evaluate(catalog, closing("FRIEND1", None, None))
    rule = next(r for r in evaluation.rules if r.rule_name == "Friend redeems referral code")
    assert not rule.fired
    failed = rule.failed_condition
    assert failed is not None and failed.index == 0
    assert failed.check.seen == "no referral code"
    assert "valid referral code" in failed.check.needed


def test_campaigns_run_in_priority_then_id_order(tmp_path: Path) -> None:
    for cid, priority in (("b-camp", 0), ("a-camp", 5), ("c-camp", 0)):
        (tmp_path / f"{cid}.toml").write_text(
            f'[campaign]\nid = "{cid}"\nstate = "enabled"\npriority = {priority}\n'
            '[[rules]]\nname = "r"\nwhen = [{ event = "talon_profile_created" }]\n'
            'then = [{ effect = "create_referral_code" }]\n'
        )
    facts = Facts(NOW, ("talon_profile_created",), profile("P"))
    evaluation = evaluate(load(tmp_path), facts)
    assert [e.campaign_id for e in evaluation.effects] == ["b-camp", "c-camp", "a-camp"]


def test_schedule_window(tmp_path: Path) -> None:
    (tmp_path / "w.toml").write_text(
        '[campaign]\nid = "w"\nstate = "enabled"\n'
        "start = 2026-12-01T00:00:00Z\nend = 2027-01-01T00:00:00Z\n"
        '[[rules]]\nname = "r"\nwhen = [{ event = "talon_profile_created" }]\n'
        'then = [{ effect = "create_referral_code" }]\n'
    )
    catalog = load(tmp_path)
    for when, fires in (
        (datetime(2026, 11, 30, tzinfo=UTC), False),
        (datetime(2026, 12, 15, tzinfo=UTC), True),
        (datetime(2027, 1, 1, tzinfo=UTC), False),
    ):
        facts = Facts(when, ("talon_profile_created",), profile("P"))
        assert bool(evaluate(catalog, facts).effects) is fires, when
