"""Talon.One's JSON shapes (IntegrationStateV2 and the objects in it), so that `--json` output reads
like the real Integration API's responses. Pure functions from models to dicts."""

from __future__ import annotations

from typing import Any

from refcamp.clock import iso
from refcamp.models import Campaign, Coupon, Effect, LedgerEntry, Profile, Referral, Session


def effect(e: Effect) -> dict[str, Any]:
    return {
        "campaignId": e.campaign_id,
        "rulesetId": e.ruleset_id,
        "ruleIndex": e.rule_index,
        "ruleName": e.rule_name,
        "effectType": e.effect_type,
        "props": dict(e.props),
    }


def referral(r: Referral) -> dict[str, Any]:
    return {
        "code": r.code,
        "campaignId": r.campaign_id,
        "advocateProfileIntegrationId": r.advocate_id,
        "friendProfileIntegrationId": r.friend_id,
        "usageLimit": r.usage_limit,
        "usageCounter": r.usage_counter,
        "startDate": iso(r.start_date),
        "expiryDate": iso(r.expiry_date),
        "attributes": dict(r.attributes),
        "created": iso(r.created),
    }


def coupon(c: Coupon) -> dict[str, Any]:
    return {
        "value": c.code,
        "campaignId": c.campaign_id,
        "recipientIntegrationId": c.recipient_id,
        "usageLimit": c.usage_limit,
        "usageCounter": c.usage_counter,
        "startDate": iso(c.start_date),
        "expiryDate": iso(c.expiry_date),
        "attributes": dict(c.attributes),
        "created": iso(c.created),
    }


def profile(
    p: Profile,
    stats: tuple[int, float, str | None] | None = None,
    audiences: list[str] | None = None,
) -> dict[str, Any]:
    closed, sales, last = stats or (0, 0.0, None)
    return {
        "integrationId": p.id,
        "created": iso(p.created),
        "attributes": dict(p.attributes),
        "closedSessions": closed,
        "totalSales": sales,
        "lastActivity": last or iso(p.updated),
        "audienceMemberships": [{"name": name} for name in audiences or []],
    }


def session(s: Session) -> dict[str, Any]:
    return {
        "integrationId": s.id,
        "created": iso(s.created),
        "profileId": s.profile_id or "",
        "state": s.state,
        "cartItems": [
            {
                "name": i.name,
                "sku": i.sku,
                "quantity": i.quantity,
                "price": i.price,
                "category": i.category,
                "weight": i.weight,
                "position": i.position,
                "attributes": dict(i.attributes),
            }
            for i in s.cart_items
        ],
        "couponCodes": list(s.coupon_codes),
        "referralCode": s.referral_code or "",
        "attributes": dict(s.attributes),
        "additionalCosts": {name: {"price": price} for name, price in s.additional_costs.items()},
        "identifiers": list(s.identifiers),
        "total": s.total,
        "cartItemTotal": s.cart_item_total,
        "additionalCostTotal": s.additional_cost_total,
        "updated": iso(s.updated),
    }


def ledger_entry(e: LedgerEntry) -> dict[str, Any]:
    return {
        "transactionUUID": e.transaction_uuid,
        "programId": e.program_id,
        "customerProfileId": e.profile_id,
        "customerSessionId": e.session_id or "",
        "campaignId": e.campaign_id,
        "type": e.type,
        "amount": e.amount,
        "name": e.name,
        "startDate": iso(e.start_date),
        "expiryDate": iso(e.expiry_date) or "unlimited",
        "reverses": e.reverses,
        "created": iso(e.created),
    }


def balance(b: Any) -> dict[str, int]:
    return {
        "currentBalance": b.current,
        "pendingBalance": b.pending,
        "expiredBalance": b.expired,
        "spentBalance": b.spent,
    }


def balances(profile_id: str, by_program: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {
        "integrationId": profile_id,
        "programs": {
            program: {"name": names.get(program, program), **balance(b)}
            for program, b in by_program.items()
        },
    }


def campaign(c: Campaign, state: str) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "state": state, "features": list(c.features)}


def rule_failure_reasons(response: Any, campaigns: dict[str, Campaign]) -> list[dict[str, Any]]:
    evaluation = response.evaluation
    reasons = []
    for rule in evaluation.rules if evaluation else ():
        failed = rule.failed_condition
        if rule.fired or failed is None:
            continue
        item: dict[str, Any] = {
            "campaignID": rule.campaign_id,
            "campaignName": campaigns[rule.campaign_id].name
            if rule.campaign_id in campaigns
            else "",
            "ruleIndex": rule.rule_index,
            "ruleName": rule.rule_name,
            "conditionIndex": failed.index,
            "details": f"{failed.words}: saw {failed.check.seen}, needs {failed.check.needed}",
        }
        if response.session and response.session.referral_code:
            item["referralValue"] = response.session.referral_code
        if response.session and response.session.coupon_codes:
            item["couponValue"] = response.session.coupon_codes[0]
        reasons.append(item)
    for blocked in evaluation.blocked if evaluation else ():
        reasons.append(
            {
                "campaignID": blocked.campaign_id,
                "campaignName": campaigns[blocked.campaign_id].name
                if blocked.campaign_id in campaigns
                else "",
                "ruleIndex": blocked.rule_index,
                "ruleName": blocked.rule_name,
                "effectIndex": blocked.effect_index,
                "details": f"{blocked.effect_type} blocked: {blocked.reason} ({blocked.details})",
            }
        )
    return reasons


def integration_state(
    response: Any, campaigns: dict[str, Campaign], states: dict[str, str] | None = None
) -> dict[str, Any]:
    """The IntegrationStateV2 document for one request's Response."""
    out: dict[str, Any] = {
        "effects": [effect(e) for e in response.effects],
        "createdCoupons": [coupon(c) for c in response.created_coupons],
        "createdReferrals": [referral(r) for r in response.created_referrals],
    }
    if response.profile is not None:
        out["customerProfile"] = profile(
            response.profile, response.profile_stats, response.audiences
        )
    if response.session is not None:
        out["customerSession"] = session(response.session)
    out["ruleFailureReasons"] = rule_failure_reasons(response, campaigns)
    wanted = response.response_content
    if response.event is not None:
        out["event"] = response.event
    elif "event" in wanted and response.events:
        # refcamp may fire several built-in events for one request (created, then closed).
        out["event"] = {"type": response.events[-1], "types": list(response.events)}
    if "triggeredCampaigns" in wanted and response.evaluation is not None:
        fired = []
        for rule in response.evaluation.rules:
            if rule.fired and rule.campaign_id not in fired:
                fired.append(rule.campaign_id)
        out["triggeredCampaigns"] = [
            campaign(campaigns[c], (states or {}).get(c, "enabled")) for c in fired
        ]
    if "loyalty" in wanted and response.loyalty is not None and response.profile is not None:
        out["loyalty"] = balances(response.profile.id, response.loyalty, {})
        del out["loyalty"]["integrationId"]
    if "coupons" in wanted:
        out["coupons"] = [coupon(c) for c in response.coupons]
    if response.generated:
        out["generated"] = dict(response.generated)
    if response.dry_run:
        out["dryRun"] = True
    return out


def explanation(evaluation: Any) -> dict[str, Any]:
    """The full trace behind --explain: every rule, condition by condition."""
    return {
        "rules": [
            {
                "campaignId": rule.campaign_id,
                "ruleIndex": rule.rule_index,
                "ruleName": rule.rule_name,
                "fired": rule.fired,
                "conditions": [
                    {
                        "conditionIndex": c.index,
                        "condition": c.words,
                        "passed": c.check.passed,
                        "seen": c.check.seen,
                        "needed": c.check.needed,
                    }
                    for c in rule.conditions
                ],
            }
            for rule in evaluation.rules
        ],
        "notRunning": dict(evaluation.not_running),
    }
