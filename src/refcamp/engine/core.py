"""The engine: pure evaluation of campaigns against the facts of one request.

`evaluate(catalog, facts)` never reads the database or the clock: the service loads the facts
(profile, session, the referral behind a code, campaign states, "now") before calling it, and
carries out the effects it returns. Dry runs, explanations and replays therefore share one code
path.

Invariants: campaigns run in (priority, id) order, rules top to bottom, effects in the order
written; a session's referral code gets exactly one verdict per evaluation (accept or reject).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from refcamp.clock import iso
from refcamp.engine import coupons, referrals
from refcamp.engine.conditions import CouponCondition, ReferralCondition, mentions
from refcamp.engine.kinds import money
from refcamp.engine.limits import reason as limit_reason
from refcamp.engine.types import (
    Blocked,
    Budget,
    ConditionResult,
    Context,
    CouldNotApply,
    Evaluation,
    Facts,
    RuleResult,
)
from refcamp.models import Campaign, Catalog, Effect, Rule

if TYPE_CHECKING:
    from refcamp.engine.effects import EffectSpec


def not_running_reason(campaign: Campaign, state: str, now: datetime) -> str | None:
    """Why a campaign does not run now, or None when it does."""
    if state != "enabled":
        return f"{campaign.id} is {state}"
    if campaign.start is not None and now < campaign.start:
        return f"{campaign.id} starts at {iso(campaign.start)}"
    if campaign.end is not None and now >= campaign.end:
        return f"{campaign.id} ended at {iso(campaign.end)}"
    return None


def stopped(catalog: Catalog, states: Mapping[str, str], now: datetime) -> dict[str, str]:
    """Campaign id -> why it does not run now, for each campaign that does not (`states` are the
    state file's; a campaign it does not know yet has its TOML state)."""
    found = {}
    for campaign in catalog.campaigns:
        reason = not_running_reason(campaign, states.get(campaign.id, campaign.state), now)
        if reason:
            found[campaign.id] = reason
    return found


def _effect(
    campaign: Campaign,
    rule: Rule,
    effect_type: str,
    props: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
) -> Effect:
    return Effect(
        campaign_id=campaign.id,
        ruleset_id=campaign.ruleset_id,
        rule_index=rule.index,
        rule_name=rule.name,
        effect_type=effect_type,
        props=props,
        params=params or {},
    )


class _Outcome:
    """What one evaluation has found so far (plain slots: a replay makes thousands a second)."""

    __slots__ = ("blocked", "coupons_accepted", "effects", "referral_accepted", "rules")

    def __init__(self) -> None:
        self.effects: list[Effect] = []
        self.rules: list[RuleResult] = []
        self.blocked: list[Blocked] = []
        self.referral_accepted = False
        self.coupons_accepted: dict[str, str] = {}  # campaign id -> the code accepted


def evaluate(catalog: Catalog, facts: Facts) -> Evaluation:
    not_running = stopped(catalog, facts.campaign_states, facts.now)
    budget = Budget(facts.usage)
    referral = referrals.verdict(catalog, facts, not_running, budget)
    verdicts = coupons.verdicts(catalog, facts, not_running, budget)
    discounted: list[float] = []
    deducted: dict[str, int] = {}
    out = _Outcome()
    for campaign in catalog.in_order:
        if campaign.id in not_running:
            continue
        context = Context(
            facts, catalog, campaign, referral, budget, verdicts, discounted, deducted
        )
        for rule in campaign.rules:
            results = tuple(
                ConditionResult(i, condition, condition.check(context))
                for i, condition in enumerate(rule.when)
            )
            fired = all(r.check.passed for r in results)
            out.rules.append(RuleResult(campaign.id, rule.index, rule.name, fired, results))
            if fired:
                _fire(context, rule, out)

    if referral.code is not None and not out.referral_accepted:
        out.effects.append(referrals.rejection(referral, catalog, out.rules))
    taken = set(out.coupons_accepted.values())
    for code, verdict in verdicts.items():
        if code not in taken:
            rejection = coupons.rejection(verdict, catalog, out.rules, set(out.coupons_accepted))
            out.effects.append(rejection)
    return Evaluation(tuple(out.effects), tuple(out.rules), not_running, tuple(out.blocked))


def _fire(context: Context, rule: Rule, out: _Outcome) -> None:
    """A rule whose conditions hold: its codes accepted and its effects planned, all or none.

    An effect that cannot be applied (a deduction of points the customer does not have) leaves
    the whole rule out, as Talon.One does ("a condition to only trigger when the given number of
    loyalty points could be deduced", DeductLoyaltyPointsEffectProps): what the rule had planned
    and counted is taken back, its codes are rejected with EffectCouldNotBeApplied, and the
    rule is reported with the effect's index (ruleFailureReasons)."""
    if not any(spec.fallible for spec in rule.then):
        _accept_codes(context, rule, out)
        _plan_effects(context, rule, out)
        return
    budget = context.budget
    kept = (
        len(out.effects),
        len(out.blocked),
        dict(out.coupons_accepted),
        out.referral_accepted,
        dict(budget.used),
        len(context.discounted),
        dict(context.deducted),
    )
    _accept_codes(context, rule, out)
    failure = _plan_effects(context, rule, out)
    if failure is None:
        return
    effects, blocked, coupons_accepted, referral_accepted, used, discounted, deducted = kept
    del out.effects[effects:], out.blocked[blocked:], context.discounted[discounted:]
    out.coupons_accepted, out.referral_accepted = coupons_accepted, referral_accepted
    budget.used = used
    context.deducted.clear()
    context.deducted.update(deducted)
    index, effect_type, details = failure
    out.rules[-1] = out.rules[-1]._replace(fired=False, failed_effect=(index, details))
    out.blocked.append(
        Blocked(
            context.campaign.id,
            rule.index,
            rule.name,
            index,
            effect_type,
            "EffectCouldNotBeApplied",
            details,
        )
    )


def _accept_codes(context: Context, rule: Rule, out: _Outcome) -> None:
    """A fired rule that checks codes accepts the session's valid ones: one coupon per
    campaign, one referral code per request."""
    campaign, budget, verdicts, referral = (
        context.campaign,
        context.budget,
        context.coupons,
        context.referral,
    )
    profile_id = context.facts.profile.id if context.facts.profile else None
    valid_coupon = next(
        (v.code for v in verdicts.values() if v.reason is None and v.campaign_id == campaign.id),
        None,
    )
    if (
        bool(verdicts)
        and mentions(rule, CouponCondition)
        and valid_coupon is not None
        and campaign.id not in out.coupons_accepted
    ):
        out.coupons_accepted[campaign.id] = valid_coupon
        budget.spend(campaign, "redeemCoupon", 1, profile_id, valid_coupon)
        out.effects.append(_effect(campaign, rule, "acceptCoupon", {"value": valid_coupon}))
    if (
        mentions(rule, ReferralCondition)
        and not out.referral_accepted
        and referral.valid_for(campaign.id)
    ):
        out.referral_accepted = True
        budget.spend(campaign, "redeemReferral", 1, profile_id, referral.code)
        out.effects.append(_effect(campaign, rule, "acceptReferral", {"value": referral.code}))


# Actions whose limit counts an amount (money, points): an effect asking more than is left gets
# what is left, its `value` capped and `desiredValue` the value asked (SetDiscountEffectProps and
# AddLoyaltyPointsEffectProps: "desiredValue: The original value of the discount", "The original
# amount of loyalty points to be awarded"). Limits that count occurrences block instead.
CAPPED = {"setDiscount": lambda room: round(room, 2), "addLoyaltyPoints": math.floor}


def _capped(props: Mapping[str, Any], action: str, room: float | None) -> dict[str, Any] | None:
    """The props capped to what the limits leave, when something is left to give."""
    cap = CAPPED.get(action)
    if cap is None or room is None:
        return None
    value = cap(room)
    if value <= 0 or value >= props["value"]:
        return None
    shaped = float(value) if action == "setDiscount" else int(value)
    return {**props, "value": shaped, "desiredValue": props["value"]}


def _plan_effects(context: Context, rule: Rule, out: _Outcome) -> tuple[int, str, str] | None:
    """Plan a fired rule's effects in the order written; one that a campaign limit stops is
    recorded as blocked instead. Stops at an effect that cannot be applied and returns it
    (index, effectType, details)."""
    for index, spec in enumerate(rule.then):
        for planned in spec.plan_all(context):
            if isinstance(planned, CouldNotApply):
                return index, spec.effect_type, planned.details
            props, params = planned
            _plan_one(context, rule, out, index, spec, props, params)
    return None


def _plan_one(
    context: Context,
    rule: Rule,
    out: _Outcome,
    index: int,
    spec: EffectSpec,
    props: Mapping[str, Any],
    params: Mapping[str, Any],
) -> None:
    """One planned effect past the campaign limits: kept (capped to what an amount's limit has
    left), or recorded as blocked."""
    campaign, budget = context.campaign, context.budget
    usage = spec.usage(props, params)
    if usage is not None:
        action, amount, subject = usage
        stop = budget.blocking(campaign, action, amount, subject)
        if stop is not None:  # what is left may still give part of it
            capped = _capped(props, action, budget.room(campaign, action, subject))
            if capped is not None:
                props, amount, stop = capped, capped["value"], None
        if stop is not None:
            limit, used = stop
            out.blocked.append(
                Blocked(
                    campaign.id,
                    rule.index,
                    rule.name,
                    index,
                    spec.effect_type,
                    limit_reason(limit),
                    f"limit {limit.words()}: {money(used)} used, this needs {money(amount)} more",
                )
            )
            return
        budget.spend(campaign, action, amount, subject)
    spec.planned(context, props)
    out.effects.append(_effect(campaign, rule, spec.effect_type_of(props), props, params))
