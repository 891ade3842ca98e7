"""Talon.One's JSON shapes, as its official SDK (`talon_one@5.0.1-rc`) models them, so that
`serve`'s responses and every `--json` parse in a typed client. Pure functions from models to dicts.

The rules that keep a typed client happy: every field the SDK's model requires is present; an
integer id is an integer (`ids` maps refcamp's readable ids to Talon.One's integers); an optional
field without a value is left out rather than `null`; refcamp's own extras (`explanation`,
`dryRun`, `generated`) are few and documented in the README.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from refcamp.clock import iso
from refcamp.models import (
    Campaign,
    CampaignStats,
    Catalog,
    CodeFigures,
    Coupon,
    Effect,
    LedgerEntry,
    LoggedRequest,
    Profile,
    Referral,
    Session,
    TalonIds,
)

# One Talon.One account with one Application: what refcamp emulates.
ACCOUNT_ID = 1
APPLICATION_ID = 1


def _some(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: Talon.One leaves optional empty fields out."""
    return {key: value for key, value in fields.items() if value is not None}


def effect(e: Effect, ids: TalonIds) -> dict[str, Any]:
    props = dict(e.props)
    if "programId" in props:
        props["programId"] = ids.program(props["programId"])
    if props.get("transactionUUID", "") is None:  # a tentative effect books no transaction yet
        props["transactionUUID"] = ""
    if e.effect_type == "deductLoyaltyPoints" and not props.get("ruleTitle"):
        props["ruleTitle"] = e.rule_name
    elif e.effect_type == "customEffect":
        props["effectId"] = ids.effect(props.get("name", ""))
    elif e.effect_type in ("addToAudience", "removeFromAudience"):
        props["audienceId"] = ids.audience(props.get("audienceName", ""))
    return {
        "campaignId": ids.campaign(e.campaign_id),
        "rulesetId": ids.ruleset(e.ruleset_id),
        "ruleIndex": e.rule_index,
        "ruleName": e.rule_name,
        "effectType": e.effect_type,
        "props": props,
    }


def referral(r: Referral, ids: TalonIds) -> dict[str, Any]:
    """Talon.One's Referral."""
    return _some(
        id=r.talon_id,
        created=iso(r.created),
        startDate=iso(r.start_date),
        expiryDate=iso(r.expiry_date),
        usageLimit=r.usage_limit,
        campaignId=ids.campaign(r.campaign_id),
        advocateProfileIntegrationId=r.advocate_id,
        friendProfileIntegrationId=r.friend_id,
        attributes=dict(r.attributes),
        code=r.code,
        usageCounter=r.usage_counter,
    )


def coupon(c: Coupon, ids: TalonIds, profile_redemptions: int | None = None) -> dict[str, Any]:
    """Talon.One's Coupon; with `profile_redemptions`, an IntegrationCoupon."""
    return _some(
        id=c.talon_id,
        created=iso(c.created),
        campaignId=ids.campaign(c.campaign_id),
        value=c.code,
        usageLimit=c.usage_limit,
        startDate=iso(c.start_date),
        expiryDate=iso(c.expiry_date),
        usageCounter=c.usage_counter,
        attributes=dict(c.attributes),
        recipientIntegrationId=c.recipient_id,
        profileRedemptionCount=profile_redemptions,
    )


def profile(
    p: Profile,
    ids: TalonIds,
    stats: tuple[int, float, str | None] | None = None,
    audiences: Iterable[str] = (),
    number: int = 0,
) -> dict[str, Any]:
    """Talon.One's CustomerProfile (`number`: its integer id, when the model has none yet)."""
    closed, sales, last = stats or (0, 0.0, None)
    return {
        "id": p.talon_id or number,
        "created": iso(p.created),
        "integrationId": p.id,
        "attributes": dict(p.attributes),
        "accountId": ACCOUNT_ID,
        "closedSessions": closed,
        "totalSales": sales,
        "audienceMemberships": [{"id": ids.audience(name), "name": name} for name in audiences],
        "lastActivity": last or iso(p.updated),
    }


def session(
    s: Session, first_session: bool, returned: Mapping[int, int] | None = None, number: int = 0
) -> dict[str, Any]:
    """Talon.One's CustomerSessionV2; `returned` is how many of each cart item came back,
    `number` its integer id when the model has none yet."""
    returned = returned or {}
    state = "partially_returned" if s.state == "closed" and returned else s.state
    return _some(
        id=s.talon_id or number,
        created=iso(s.created),
        integrationId=s.id,
        applicationId=APPLICATION_ID,
        profileId=s.profile_id or "",
        couponCodes=list(s.coupon_codes),
        referralCode=s.referral_code,
        state=state,
        cartItems=[
            {
                "name": i.name,
                "sku": i.sku,
                "quantity": i.quantity,
                **(
                    {
                        "returnedQuantity": returned[i.position],
                        "remainingQuantity": i.quantity - returned[i.position],
                    }
                    if i.position in returned
                    else {}
                ),
                "price": i.price,
                "category": i.category,
                "weight": i.weight,
                "position": i.position,
                "attributes": dict(i.attributes),
            }
            for i in s.cart_items
        ],
        additionalCosts={name: {"price": price} for name, price in s.additional_costs.items()},
        identifiers=list(s.identifiers),
        attributes=dict(s.attributes),
        firstSession=first_session,
        total=s.total,
        cartItemTotal=s.cart_item_total,
        additionalCostTotal=s.additional_cost_total,
        updated=iso(s.updated),
    )


def transaction(e: LedgerEntry, ids: TalonIds, catalog: Catalog) -> dict[str, Any]:
    """One ledger entry as getLoyaltyProgramProfileTransactions lists it
    (LedgerTransactionLogEntryIntegrationAPI)."""
    campaign = catalog.campaign(e.campaign_id or "")
    return _some(
        id=e.talon_id,
        programId=ids.program(e.program_id),
        created=iso(e.created),
        type=e.type,
        amount=e.amount,
        name=e.name,
        startDate=iso(e.start_date),
        expiryDate=iso(e.expiry_date) or "unlimited",
        subledgerId="",
        customerSessionId=e.session_id,
        rulesetId=ids.ruleset(campaign.ruleset_id) if campaign else None,
        ruleName=e.rule_name or None,
    )


def transactions(
    entries: list[LedgerEntry], ids: TalonIds, catalog: Catalog, has_more: bool = False
) -> dict[str, Any]:
    """getLoyaltyProgramProfileTransactions' page: {hasMore, data}."""
    return {"hasMore": has_more, "data": [transaction(e, ids, catalog) for e in entries]}


def ledger_info(b: Any) -> dict[str, int]:
    """Talon.One's LedgerInfo: one program's balances. `expiredBalance` and `spentBalance` are
    "**DEPRECATED** Value is shown as 0" in Talon.One's model: 0 here too (the live values are
    LoyaltyBalance's `expiredPoints` and `spentPoints`, `balance`). The tentative balances
    include what the request's open session would add or deduct once it closes."""
    return {
        "currentBalance": b.current,
        "pendingBalance": b.pending,
        "expiredBalance": 0,
        "spentBalance": 0,
        "tentativeCurrentBalance": b.tentative_current_balance,
        "tentativePendingBalance": b.tentative_pending_balance,
    }


def balance(b: Any) -> dict[str, Any]:
    """getLoyaltyBalances' body (LoyaltyBalances) for one program. `negativePoints` (points owed
    after a rollback of points already spent; "This implies that `activePoints` is `0`") is in
    Talon.One's current LoyaltyBalance, not in the SDK release refcamp is checked against
    (5.0.1-rc): shown only when there is a debt."""
    shown = {
        "activePoints": b.current,
        "pendingPoints": b.pending,
        "spentPoints": b.spent,
        "expiredPoints": b.expired,
    }
    if b.negative:
        shown["negativePoints"] = b.negative
    return {"balance": shown, "subledgerBalances": {}}


def loyalty(by_program: Mapping[str, Any], names: Mapping[str, str], ids: TalonIds) -> dict:
    """Talon.One's Loyalty: every program's balances, keyed by the program's integer id."""
    programs = {}
    for program, b in by_program.items():
        number = ids.program(program)
        programs[str(number)] = {
            "id": number,
            "title": names.get(program, program),
            "name": program,
            "ledger": ledger_info(b),
        }
    return {"programs": programs}


def campaign(c: Campaign, state: str, ids: TalonIds, seen: str | None = None) -> dict[str, Any]:
    """Talon.One's Campaign (what refcamp knows of it; `seen` is when it first saw it)."""
    return _some(
        id=ids.campaign(c.id),
        created=seen or "1970-01-01T00:00:00Z",
        applicationId=APPLICATION_ID,
        userId=ACCOUNT_ID,
        name=c.name,
        description=c.description,
        startTime=iso(c.start),
        endTime=iso(c.end),
        state=state,
        activeRulesetId=ids.ruleset(c.ruleset_id),
        tags=[],
        features=list(c.features),
        limits=[
            {
                "action": limit.action,
                "limit": limit.limit,
                "entities": ["Profile"] if limit.per == "profile" else [],
            }
            for limit in c.limits
        ],
    )


def inventory(
    inv: Any,
    ids: TalonIds,
    catalog: Catalog,
    parts: Iterable[str] = ("profile", "loyalty", "referrals", "coupons"),
) -> dict[str, Any]:
    """getCustomerInventory's body (CustomerInventory): the parts asked for."""
    out: dict[str, Any] = {}
    if "profile" in parts:
        out["profile"] = profile(inv.profile, ids, inv.views.stats, inv.views.audiences)
    if "loyalty" in parts:
        out["loyalty"] = loyalty(inv.balances, catalog.program_names, ids)
    if "referrals" in parts:
        out["referrals"] = [
            {**referral(r, ids), "referredCustomers": referred} for r, referred in inv.referrals
        ]
    if "coupons" in parts:
        out["coupons"] = [
            {**coupon(c, ids, uses), "state": coupon_state(c, uses, inv.now, inv.states)}
            for c, uses in inv.coupons
        ]
    if "giveaways" in parts:
        out["giveaways"] = []
    return out


def coupon_state(c: Coupon, uses: int, now: Any, states: Mapping[str, str]) -> str:
    """InventoryCoupon's state: active, used, expired, pending or disabled."""
    if states.get(c.campaign_id, "enabled") != "enabled":
        return "disabled"
    if uses or (c.usage_limit and c.usage_counter >= c.usage_limit):
        return "used"
    if c.expiry_date is not None and c.expiry_date <= now:
        return "expired"
    if c.start_date is not None and c.start_date > now:
        return "pending"
    return "active"


def rule_failure_reasons(response: Any, catalog: Catalog, ids: TalonIds) -> list[dict[str, Any]]:
    evaluation = response.evaluation
    reasons = []

    def reason(campaign_id: str, rule_index: int, rule_name: str, **rest: Any) -> dict:
        campaign = catalog.campaign(campaign_id)
        return _some(
            campaignID=ids.campaign(campaign_id),
            campaignName=campaign.name if campaign else "",
            rulesetID=ids.ruleset(campaign.ruleset_id) if campaign else 0,
            ruleIndex=rule_index,
            ruleName=rule_name,
            **rest,
        )

    session = response.session
    for rule in evaluation.rules if evaluation else ():
        failed = rule.failed_condition
        if rule.fired or failed is None:
            continue
        reasons.append(
            reason(
                rule.campaign_id,
                rule.rule_index,
                rule.rule_name,
                conditionIndex=failed.index,
                details=f"{failed.words}: saw {failed.check.seen}, needs {failed.check.needed}",
                referralValue=session.referral_code if session else None,
                couponValue=session.coupon_codes[0] if session and session.coupon_codes else None,
            )
        )
    for blocked in evaluation.blocked if evaluation else ():
        reasons.append(
            reason(
                blocked.campaign_id,
                blocked.rule_index,
                blocked.rule_name,
                effectIndex=blocked.effect_index,
                details=(
                    f"{blocked.effect_type} could not be applied ({blocked.reason}): "
                    f"{blocked.details}; none of the rule's effects apply"
                    if blocked.reason == "EffectCouldNotBeApplied"
                    else f"{blocked.effect_type} blocked: {blocked.reason} ({blocked.details})"
                ),
            )
        )
    return reasons


def event(
    data: Mapping[str, Any], effects: list[dict[str, Any]], ledger_entries: list[dict] | None = None
) -> dict[str, Any]:
    """Talon.One's Event, from what the service recorded of it."""
    return _some(
        id=data["id"],
        created=data["created"],
        applicationId=APPLICATION_ID,
        profileId=data.get("profileId"),
        type=data["type"],
        attributes=dict(data.get("attributes") or {}),
        sessionId=data.get("sessionId"),
        effects=effects,
        ledgerEntries=ledger_entries or [],
    )


def integration_state(
    response: Any, catalog: Catalog, ids: TalonIds, states: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The IntegrationStateV2 document for one request's Response; entities only when the
    request's responseContent asked for them, as Talon.One does."""
    wanted = response.response_content
    effects = [effect(e, ids) for e in response.effects]
    out: dict[str, Any] = {
        "effects": effects,
        "createdCoupons": [coupon(c, ids) for c in response.created_coupons],
        "createdReferrals": [referral(r, ids) for r in response.created_referrals],
    }
    if "customerProfile" in wanted and response.profile is not None:
        out["customerProfile"] = profile(
            response.profile,
            ids,
            response.profile_stats,
            response.audiences,
            response.profile_number,
        )
    if "customerSession" in wanted and response.session is not None:
        out["customerSession"] = session(
            response.session,
            response.first_session,
            response.returned_items,
            response.session_number,
        )
    if "ruleFailureReasons" in wanted:
        out["ruleFailureReasons"] = rule_failure_reasons(response, catalog, ids)
    if "event" in wanted and response.event is not None:
        out["event"] = event(response.event, effects)
    if "triggeredCampaigns" in wanted and response.evaluation is not None:
        fired: list[str] = []
        for rule in response.evaluation.rules:
            if rule.fired and rule.campaign_id not in fired:
                fired.append(rule.campaign_id)
        out["triggeredCampaigns"] = [
            campaign(catalog.by_id[c], (states or {}).get(c, "enabled"), ids)
            for c in fired
            if c in catalog.by_id
        ]
    if "loyalty" in wanted and response.loyalty is not None:
        out["loyalty"] = loyalty(response.loyalty, catalog.program_names, ids)
    if "referral" in wanted and response.referral is not None:
        code, referred = response.referral
        out["referral"] = {**referral(code, ids), "referredCustomers": referred}
    if "coupons" in wanted:
        out["coupons"] = [coupon(c, ids, n) for c, n in response.coupons]
    if response.new_return is not None and response.session is not None:
        out["return"] = model_return(response.new_return, response)
    if "previousReturns" in wanted and response.session is not None:
        out["previousReturns"] = [model_return(r, response) for r in response.previous_returns]
    if "awardedGiveaways" in wanted:
        out["awardedGiveaways"] = []  # refcamp has no giveaway effect
    if response.generated:
        out["generated"] = dict(response.generated)
    if response.dry_run:
        out["dryRun"] = True
    return out


def model_return(facts: Mapping[str, Any], response: Any) -> dict[str, Any]:
    """Talon.One's ModelReturn: one return of a session's items."""
    return _some(
        **facts,
        applicationId=APPLICATION_ID,
        accountId=ACCOUNT_ID,
        sessionId=response.session_number,
        sessionIntegrationId=response.session.id,
        profileId=response.profile_number if response.profile else None,
        profileIntegrationId=response.profile.id if response.profile else None,
    )


def explanation(evaluation: Any, ids: TalonIds) -> dict[str, Any]:
    """The full trace behind --explain: every rule, condition by condition."""
    return {
        "rules": [
            {
                "campaignId": ids.campaign(rule.campaign_id),
                "campaign": rule.campaign_id,
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


def campaign_stats(stats: CampaignStats) -> dict[str, Any]:
    """`refcamp campaign stats --json` (refcamp's own shape, camelCase like Talon.One's)."""
    f = stats.figures

    def codes(c: CodeFigures) -> dict[str, Any]:
        return {"accepted": c.accepted, "rolledBack": c.rolled_back, "rejected": c.rejected}

    return {
        "campaignId": stats.campaign_id,
        "name": stats.name,
        "referralCodes": f.referral_codes,
        "coupons": f.coupons,
        "referrals": codes(f.referrals),
        "couponRedemptions": codes(f.coupon_redemptions),
        "points": {
            program: {
                "issued": p.issued,
                "rolledBack": p.rolled_back,
                "deducted": p.deducted,
                "net": p.net,
            }
            for program, p in f.points.items()
        },
        "discount": {"given": f.discount_given, "rolledBack": f.discount_rolled_back},
        "acquiredCustomers": f.acquired_customers,
        "pointsByDay": [{"day": day, "points": points} for day, points in f.points_by_day],
        "pointValue": stats.point_value,
        "cost": stats.cost,
        "costPerAcquiredCustomer": stats.cost_per_acquired_customer,
    }


def error(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict:
    """Talon.One's ErrorResponseWithStatus."""
    return {
        "message": message,
        "errors": errors or [{"title": message, "details": message, "source": {}}],
        "StatusCode": status,
    }


def log_entry(
    door: str,
    method: str,
    path: str,
    time: datetime,
    resp: Any = None,
    ids: TalonIds | None = None,
    status: int = 200,
    message: str | None = None,
) -> LoggedRequest:
    """What the request log keeps of one request (a service Response when it ran; `message`
    when it failed): the same explanation --explain prints, so the console shows that trace."""
    if resp is None:
        return LoggedRequest(door, time, method, path, status, message=message)
    session = resp.session
    profile_id = resp.profile.id if resp.profile else (session.profile_id if session else None)
    evaluation = resp.evaluation
    return LoggedRequest(
        door,
        time,
        method,
        path,
        status,
        profile_id=profile_id,
        session_id=session.id if session else None,
        effects=tuple(resp.effects),
        explanation=explanation(evaluation, ids or TalonIds({})) if evaluation else None,
        message=message or "; ".join(resp.notes) or None,
    )
