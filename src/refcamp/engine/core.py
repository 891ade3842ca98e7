"""The engine: pure evaluation of campaigns against the facts of one request.

`evaluate(catalog, facts)` never reads the database or the clock: the service loads the facts
(profile, session, the referral behind a code, campaign states, "now") before calling it, and
carries out the effects it returns. Dry runs, explanations and replays therefore share one code
path.

Invariants: campaigns run in (priority, id) order, rules top to bottom, effects in the order
written; a session's referral code gets exactly one verdict per evaluation (accept or reject).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from refcamp.clock import iso
from refcamp.models import Campaign, Catalog, Coupon, Effect, Profile, Referral, Rule, Session

if TYPE_CHECKING:
    from refcamp.engine.coupons import CouponVerdict
    from refcamp.engine.limits import Budget, UsageKey
    from refcamp.engine.referrals import Verdict


@dataclass(frozen=True)
class Facts:
    """Everything a request's evaluation may look at."""

    now: datetime
    events: tuple[str, ...]
    profile: Profile | None  # the current customer; None in an anonymous session
    session: Session | None = None
    referral: Referral | None = None  # the record behind session.referral_code, if it exists
    campaign_states: Mapping[str, str] = field(default_factory=dict)
    usage: Mapping[UsageKey, int] = field(default_factory=dict)  # limit counters so far
    audiences: frozenset[str] = frozenset()  # the current customer's audiences
    event_attributes: Mapping[str, Any] | None = None  # a custom event's attributes
    coupons: Mapping[str, Coupon | None] = field(default_factory=dict)  # session codes -> record
    balances: Mapping[str, int] = field(default_factory=dict)  # program -> current points

    @property
    def referral_code(self) -> str | None:
        return self.session.referral_code if self.session else None


# The records an evaluation makes for every condition and rule are named tuples, not dataclasses:
# a replay makes thousands a second, and every command start defines them.


class Check(NamedTuple):
    """A condition's outcome, with what was seen and what was needed (for --explain)."""

    passed: bool
    seen: str
    needed: str


class ConditionResult(NamedTuple):
    index: int
    condition: Any  # the Condition; its words are made only when someone reads them
    check: Check

    @property
    def words(self) -> str:
        return str(self.condition.words())


class RuleResult(NamedTuple):
    campaign_id: str
    rule_index: int
    rule_name: str
    fired: bool
    conditions: tuple[ConditionResult, ...]

    @property
    def failed_condition(self) -> ConditionResult | None:
        return next((c for c in self.conditions if not c.check.passed), None)


class Blocked(NamedTuple):
    """An effect of a fired rule that a campaign limit stopped."""

    campaign_id: str
    rule_index: int
    rule_name: str
    effect_index: int
    effect_type: str
    reason: str  # CampaignLimitReached, ProfileLimitReached
    details: str


@dataclass(frozen=True)
class Evaluation:
    effects: tuple[Effect, ...]
    rules: tuple[RuleResult, ...]  # every rule of every running campaign
    not_running: Mapping[str, str]  # campaign id -> why it did not run
    blocked: tuple[Blocked, ...] = ()


@dataclass(frozen=True)
class Context:
    """What a condition or effect sees: the facts, its campaign, and the referral verdict."""

    facts: Facts
    catalog: Catalog
    campaign: Campaign
    referral: Verdict
    budget: Budget
    coupons: Mapping[str, CouponVerdict] = field(default_factory=dict)
    # Discounts planned so far in this request, so that the next one cannot exceed what is left.
    discounted: list[float] = field(default_factory=list)


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


_parts: tuple[Any, ...] | None = None


def evaluate(catalog: Catalog, facts: Facts) -> Evaluation:
    # These modules import this one, so they are imported here; a replay calls this function
    # thousands of times a second, so it is done once.
    global _parts
    if _parts is None:
        from refcamp.engine import conditions, coupons, limits, referrals

        _parts = (conditions, coupons, limits, referrals)
    conditions_, coupons_, limits_, referrals_ = _parts
    CouponCondition, ReferralCondition = conditions_.CouponCondition, conditions_.ReferralCondition
    mentions, Budget, limit_reason = conditions_.mentions, limits_.Budget, limits_.reason
    coupon_rejection, coupon_verdicts = coupons_.rejection, coupons_.verdicts
    verdict = referrals_.verdict

    not_running = stopped(catalog, facts.campaign_states, facts.now)
    budget = Budget(facts.usage)
    referral = verdict(catalog, facts, not_running, budget)
    coupons = coupon_verdicts(catalog, facts, not_running, budget)
    discounted: list[float] = []

    effects: list[Effect] = []
    rules: list[RuleResult] = []
    blocked: list[Blocked] = []
    accepted = False
    accepted_coupons: dict[str, str] = {}  # campaign id -> the code accepted
    for campaign in catalog.in_order:
        if campaign.id in not_running:
            continue
        context = Context(facts, catalog, campaign, referral, budget, coupons, discounted)
        for rule in campaign.rules:
            results = tuple(
                ConditionResult(i, condition, condition.check(context))
                for i, condition in enumerate(rule.when)
            )
            fired = all(r.check.passed for r in results)
            rules.append(RuleResult(campaign.id, rule.index, rule.name, fired, results))
            if not fired:
                continue

            profile_id = facts.profile.id if facts.profile else None
            valid_coupon = next(
                (
                    v.code
                    for v in coupons.values()
                    if v.reason is None and v.campaign_id == campaign.id
                ),
                None,
            )
            if (
                bool(coupons)
                and mentions(rule, CouponCondition)
                and valid_coupon is not None
                and campaign.id not in accepted_coupons
            ):
                accepted_coupons[campaign.id] = valid_coupon
                budget.spend(campaign, "redeemCoupon", 1, profile_id, valid_coupon)
                effects.append(_effect(campaign, rule, "acceptCoupon", {"value": valid_coupon}))
            if (
                mentions(rule, ReferralCondition)
                and not accepted
                and referral.valid_for(campaign.id)
            ):
                accepted = True
                budget.spend(campaign, "redeemReferral", 1, profile_id, referral.code)
                effects.append(_effect(campaign, rule, "acceptReferral", {"value": referral.code}))
            for index, spec in enumerate(rule.then):
                planned = spec.plan(context)
                if planned is None:
                    continue
                props, params = planned
                usage = spec.usage(props, params)
                if usage is not None:
                    action, amount, subject = usage
                    stop = budget.blocking(campaign, action, amount, subject)
                    if stop is not None:
                        limit, used = stop
                        blocked.append(
                            Blocked(
                                campaign.id,
                                rule.index,
                                rule.name,
                                index,
                                spec.effect_type,
                                limit_reason(limit),
                                f"limit {limit.words()}: {used} used, this needs {amount} more",
                            )
                        )
                        continue
                    budget.spend(campaign, action, amount, subject)
                spec.planned(context, props)
                effects.append(_effect(campaign, rule, spec.effect_type, props, params))

    if referral.code is not None and not accepted:
        effects.append(referral.rejection(catalog, rules))
    taken = set(accepted_coupons.values())
    for code, coupon in coupons.items():
        if code not in taken:
            effects.append(coupon_rejection(coupon, catalog, rules, set(accepted_coupons)))
    return Evaluation(tuple(effects), tuple(rules), not_running, tuple(blocked))
