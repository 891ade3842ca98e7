"""The values the engine's parts share: what a request's evaluation sees (Facts, Context), what
it decides (verdicts on codes, the limit Budget) and what it returns (Evaluation).

This module imports nothing of the engine, so that every part of it (conditions, effects,
limits, verdicts, core) can import it at the top without an import loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from refcamp.models import Campaign, Catalog, Coupon, Effect, Limit, Profile, Referral, Session

# (campaign id, action, per, subject): subject is "" per campaign, a profile id, or a code.
UsageKey = tuple[str, str, str, str]


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
    # Program id -> the points the current customer may spend now (their active balance, read
    # inside the request's transaction): what balance conditions see and deductions may take.
    points: Mapping[str, int] = field(default_factory=dict)

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
    # A rule whose conditions held but one of whose effects could not be applied (a deduction
    # of points the customer does not have): none of its effects apply. (effect index, details)
    failed_effect: tuple[int, str] | None = None

    @property
    def failed_condition(self) -> ConditionResult | None:
        return next((c for c in self.conditions if not c.check.passed), None)


class CouldNotApply(NamedTuple):
    """What an effect's plan returns when it cannot be applied (points the customer does not
    have): then none of its rule's effects apply (Talon.One's EffectCouldNotBeApplied)."""

    details: str


class Blocked(NamedTuple):
    """An effect of a fired rule that a campaign limit stopped, or that could not be applied
    (reason EffectCouldNotBeApplied: then its whole rule was left out)."""

    campaign_id: str
    rule_index: int
    rule_name: str
    effect_index: int
    effect_type: str
    reason: str  # CampaignLimitReached, ProfileLimitReached, EffectCouldNotBeApplied
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
    # Points deducted so far in this request, per program, so that the next deduction (and a
    # balance condition) sees what is left.
    deducted: dict[str, int] = field(default_factory=dict)

    def points(self, program: str) -> int:
        """The points the current customer may still spend in `program` in this request."""
        return self.facts.points.get(program, 0) - self.deducted.get(program, 0)


class Verdict(NamedTuple):  # made for every request: a named tuple is cheap
    """The verdict on the session's referral code (see engine.referrals)."""

    code: str | None  # the code the session carries
    campaign_id: str | None  # the campaign answering for it: the code's own, when it exists
    reason: str | None  # None: valid for campaign_id
    details: str = ""

    def valid_for(self, campaign_id: str) -> bool:
        return self.code is not None and self.reason is None and self.campaign_id == campaign_id


class CouponVerdict(NamedTuple):  # made for every request: a named tuple is cheap
    """The verdict on one of the session's coupon codes (see engine.coupons)."""

    code: str
    campaign_id: str | None
    reason: str | None  # None: valid for campaign_id
    details: str = ""


class Budget:
    """Campaign limits during one evaluation: what the state file counted so far (loaded by the
    service, inside the request's transaction) plus what this request has already planned."""

    def __init__(self, usage: Mapping[UsageKey, int]) -> None:
        self.used = dict(usage)

    def _keys(
        self, campaign: Campaign, limit: Limit, profile_id: str | None, code: str | None
    ) -> UsageKey | None:
        subject = {"campaign": "", "profile": profile_id, "code": code}[limit.per]
        if subject is None:
            return None  # nothing to count per (e.g. no customer): the limit does not apply
        return (campaign.id, limit.action, limit.per, subject)

    def blocking(
        self,
        campaign: Campaign,
        action: str,
        amount: int,
        profile_id: str | None,
        code: str | None = None,
    ) -> tuple[Limit, int] | None:
        """The first limit that `amount` more of `action` would exceed, with its count so far."""
        for limit in campaign.limits_for(action):
            key = self._keys(campaign, limit, profile_id, code)
            if key is not None and self.used.get(key, 0) + amount > limit.limit:
                return limit, self.used.get(key, 0)
        return None

    def room(
        self, campaign: Campaign, action: str, profile_id: str | None, code: str | None = None
    ) -> float | None:
        """What the limits of `action` still allow (the least any of them has left), or None
        when none applies."""
        left = [
            limit.limit - self.used.get(key, 0)
            for limit in campaign.limits_for(action)
            if (key := self._keys(campaign, limit, profile_id, code)) is not None
        ]
        return max(min(left), 0) if left else None

    def spend(
        self,
        campaign: Campaign,
        action: str,
        amount: int,
        profile_id: str | None,
        code: str | None = None,
    ) -> None:
        for limit in campaign.limits_for(action):
            key = self._keys(campaign, limit, profile_id, code)
            if key is not None:
                self.used[key] = self.used.get(key, 0) + amount
