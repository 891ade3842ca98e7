"""Frozen values shared by every layer: campaigns as loaded, state as stored, effects as output.

Nothing here does I/O. Times are aware UTC datetimes; attributes are plain JSON-able mappings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple, Protocol

# Built-in events, with the Rule Builder's labels (see the Talon.One reference).
EVENTS: dict[str, str] = {
    "talon_profile_created": "Customer Profile Registration",
    "talon_profile_updated": "Customer Profile Update",
    "talon_session_created": "Customer Session Creation",
    "talon_session_updated": "Customer Session Update",
    "talon_session_closed": "Customer Session Closing",
    "talon_session_cancelled": "Customer Session Cancellation",
    "talon_session_revoked": "Customer Session Revocation",
    "talon_session_partially_returned": "Customer Session Partial Return",
}

CAMPAIGN_STATES = ("enabled", "disabled", "archived")
SESSION_STATES = ("open", "closed", "cancelled")


# --- campaigns, as loaded from TOML -------------------------------------------------------------


@dataclass(frozen=True)
class CodeSettings:
    """How a campaign makes codes: each # of the pattern is drawn from `characters`."""

    pattern: str = "####-####"
    characters: str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    usage_limit: int = 0  # redemptions per code, 0 = unlimited
    valid_for: str | None = None  # a duration such as 30D; None = never expires


# Limit actions and what each may be counted per (Talon.One's campaign limits).
LIMIT_ACTIONS: dict[str, tuple[str, ...]] = {
    "redeemReferral": ("campaign", "profile", "code"),
    "createReferral": ("campaign", "profile"),
    "addLoyaltyPoints": ("campaign", "profile"),
    "redeemCoupon": ("campaign", "profile", "code"),
    "createCoupon": ("campaign", "profile"),
    "setDiscount": ("campaign", "profile"),
}


@dataclass(frozen=True)
class Limit:
    """At most `limit` of `action` per campaign, per customer profile, or per code.

    addLoyaltyPoints counts points and setDiscount the discount's value; the other actions
    count occurrences.
    """

    action: str
    limit: int
    per: str = "campaign"

    def words(self) -> str:
        unit = {"addLoyaltyPoints": "points", "setDiscount": "of discount"}.get(
            self.action, self.action
        )
        return f"{self.limit} {unit} per {self.per}"


@dataclass(frozen=True)
class LoyaltyProgram:
    id: str
    name: str
    source: str  # the file it was read from
    pending: str = "immediate"  # or a duration: points become active after it
    validity: str = "unlimited"  # or a duration: points expire after it
    talon_id: int | None = None  # Talon.One's integer id, when the TOML sets one


# A rule's conditions and effects are the engine's kinds (engine.conditions, engine.effects). The
# engine sits above this module, so a rule names them by what the rest of refcamp calls on them;
# `context` is the engine's Context.


class RuleCondition(Protocol):
    def check(self, context: Any, item: CartItem | None = None) -> Any:
        """The outcome for this request (the engine's Check)."""

    def words(self) -> str:
        """The condition in words, for `campaign show` and --explain."""

    def walk(self) -> Iterator[RuleCondition]:
        """This condition and those nested in it."""


class RuleEffect(Protocol):
    name: str  # the value of `effect` in TOML
    effect_type: str  # Talon.One's effectType

    def plan(self, context: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
        """(props, params) for this request, or None when the effect does not apply."""

    def usage(
        self, props: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[str, int, str | None] | None:
        """What the planned effect counts against campaign limits: (action, amount, profile)."""

    def planned(self, context: Any, props: Mapping[str, Any]) -> None:
        """Called once the effect is kept (past the campaign limits)."""

    def words(self) -> str:
        """The effect in words, for `campaign show`."""

    def problems(self, catalog: Catalog) -> list[tuple[str, str]]:
        """(key, message) pairs for references that only the whole catalog can check."""


@dataclass(frozen=True)
class Rule:
    index: int
    name: str
    when: tuple[RuleCondition, ...]
    then: tuple[RuleEffect, ...]


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    state: str  # the initial state; the database holds the current one
    features: tuple[str, ...]
    rules: tuple[Rule, ...]
    source: str
    ruleset_id: str  # changes whenever the rules change
    priority: int = 0
    description: str = ""
    start: datetime | None = None
    end: datetime | None = None
    referrals: CodeSettings = field(default_factory=CodeSettings)
    coupons: CodeSettings = field(default_factory=lambda: CodeSettings(usage_limit=1))
    limits: tuple[Limit, ...] = ()
    talon_id: int | None = None  # Talon.One's integer id, when the TOML sets one

    def limits_for(self, action: str) -> tuple[Limit, ...]:
        return self._limits_by_action.get(action, ())

    @cached_property
    def _limits_by_action(self) -> dict[str, tuple[Limit, ...]]:
        by_action: dict[str, tuple[Limit, ...]] = {}
        for limit in self.limits:
            by_action[limit.action] = (*by_action.get(limit.action, ()), limit)
        return by_action


@dataclass(frozen=True)
class Catalog:
    """Every campaign and loyalty program of a campaign directory, validated."""

    directory: str
    campaigns: tuple[Campaign, ...]
    programs: Mapping[str, LoyaltyProgram]
    warnings: tuple[str, ...] = ()  # not errors, but worth saying (e.g. a small code space)

    def campaign(self, campaign_id: str) -> Campaign | None:
        return self.by_id.get(campaign_id)

    @cached_property
    def by_id(self) -> dict[str, Campaign]:
        return {c.id: c for c in self.campaigns}

    @cached_property
    def program_names(self) -> dict[str, str]:
        return {p.id: p.name for p in self.programs.values()}

    @cached_property
    def in_order(self) -> tuple[Campaign, ...]:
        """The order campaigns run in: priority (lower first), then id."""
        return tuple(sorted(self.campaigns, key=lambda c: (c.priority, c.id)))


class TalonIds(NamedTuple):  # a named tuple: a dataclass costs every start a millisecond
    """The integer ids Talon.One's models give campaigns, rulesets, loyalty programs and
    audiences, by refcamp's readable ids; 0 for one the state file has never seen."""

    numbers: Mapping[tuple[str, str], int]

    def campaign(self, campaign_id: str | None) -> int:
        return self.numbers.get(("campaign", campaign_id or ""), 0)

    def ruleset(self, ruleset_id: str | None) -> int:
        return self.numbers.get(("ruleset", ruleset_id or ""), 0)

    def program(self, program_id: str | None) -> int:
        return self.numbers.get(("program", program_id or ""), 0)

    def audience(self, name: str) -> int:
        return self.numbers.get(("audience", name), 0)

    def effect(self, name: str) -> int:
        return self.numbers.get(("effect", name), 0)

    def key(self, kind: str, number: int) -> str | None:
        """The readable id behind an integer id."""
        return next((k for (c, k), n in self.numbers.items() if c == kind and n == number), None)


# --- state, as stored ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    id: str
    attributes: Mapping[str, Any]
    created: datetime
    updated: datetime
    talon_id: int = 0  # Talon.One's integer id (the row's), 0 until stored


@dataclass(frozen=True)
class CartItem:
    sku: str
    quantity: int
    name: str = ""
    price: float = 0.0
    category: str = ""
    weight: float = 0.0
    position: int = 0
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Session:
    id: str
    profile_id: str | None
    state: str
    cart_items: tuple[CartItem, ...] = ()
    coupon_codes: tuple[str, ...] = ()
    referral_code: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    additional_costs: Mapping[str, float] = field(default_factory=dict)
    identifiers: tuple[str, ...] = ()
    created: datetime | None = None
    updated: datetime | None = None
    talon_id: int = 0  # Talon.One's integer id (the row's), 0 until stored

    @property
    def cart_item_total(self) -> float:
        return sum(item.price * item.quantity for item in self.cart_items)

    @property
    def additional_cost_total(self) -> float:
        return sum(self.additional_costs.values())

    @property
    def total(self) -> float:
        return self.cart_item_total + self.additional_cost_total


@dataclass(frozen=True)
class Referral:
    code: str
    campaign_id: str
    advocate_id: str
    friend_id: str | None
    usage_limit: int
    usage_counter: int
    start_date: datetime | None
    expiry_date: datetime | None
    created: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)
    talon_id: int = 0  # Talon.One's integer id (the row's), 0 until stored


@dataclass(frozen=True)
class Coupon:
    code: str
    campaign_id: str
    recipient_id: str | None  # reserved for this customer; None = anyone
    usage_limit: int  # 0 = unlimited
    usage_counter: int
    start_date: datetime | None
    expiry_date: datetime | None
    created: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)
    talon_id: int = 0  # Talon.One's integer id (the row's), 0 until stored


@dataclass(frozen=True)
class LedgerEntry:
    transaction_uuid: str
    program_id: str
    profile_id: str
    type: str  # addition, subtraction
    amount: int  # always positive; `type` gives the sign
    name: str  # the reason
    created: datetime
    start_date: datetime
    expiry_date: datetime | None = None
    session_id: str | None = None
    campaign_id: str | None = None
    rule_index: int | None = None
    rule_name: str | None = None
    reverses: str | None = None  # the transaction this entry undoes
    talon_id: int = 0  # Talon.One's integer id (the row's), 0 until stored
    # The cart item (and unit of it) the points were earned by; None: by the session as a whole.
    item_position: int | None = None
    item_sub_position: int | None = None


# --- what a request did --------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """One effect, shaped like Talon.One's: the engine plans it, the service completes its props."""

    campaign_id: str
    ruleset_id: str
    rule_index: int
    rule_name: str
    effect_type: str
    props: Mapping[str, Any]
    # What the service needs to carry the effect out (e.g. the advocate of a code to create);
    # never printed.
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class LoggedRequest:
    """One request in the request log (the console's live view): which door it came through, what
    it asked, what it did and, when its rules ran, why (the --explain trace)."""

    door: str  # http, cli, replay
    time: datetime
    method: str
    path: str
    status: int  # the HTTP status it got (or would have: a command that worked is 200)
    profile_id: str | None = None
    session_id: str | None = None
    effects: tuple[Effect, ...] = ()
    explanation: Mapping[str, Any] | None = None
    message: str | None = None  # why it failed, or the notes it gave
    id: int = 0  # the row's, 0 until stored


class Redemption(NamedTuple):
    """A code use a closed session booked (the row a rollback gives back)."""

    id: int
    kind: str  # referral, coupon
    code: str
    campaign_id: str
    rule_index: int
    rule_name: str


class Discount(NamedTuple):
    """A discount a closed session booked (the row a rollback reverses, in whole or in part)."""

    id: int
    session_id: str
    profile_id: str | None
    campaign_id: str
    rule_index: int
    rule_name: str
    name: str
    value: float
    scope: str
    item_position: int | None = None  # setDiscountPerItem's position; None: the session's
    item_sub_position: int | None = None


# --- what the state file says of a campaign ----------------------------------------------------


class CodeFigures(NamedTuple):
    """A campaign's referral codes or coupons, as redeemed."""

    accepted: int
    rolled_back: int
    rejected: dict[str, int]  # reason -> count, counted at checkout


class PointFigures(NamedTuple):
    """One program's points a campaign's rules booked."""

    issued: int
    rolled_back: int
    deducted: int  # net of deductions given back
    net: int  # issued - rolled back - deducted


@dataclass(frozen=True)
class CampaignFigures:
    """Counts behind `refcamp campaign stats`, straight from the state file."""

    referral_codes: int
    coupons: int
    referrals: CodeFigures
    coupon_redemptions: CodeFigures
    points: dict[str, PointFigures]  # program id -> its figures
    discount_given: float  # money, rounded to cents
    discount_rolled_back: float
    acquired_customers: int  # came through a referral of the campaign that still stands
    points_by_day: list[tuple[str, int]]  # (ISO day, points issued)


@dataclass(frozen=True)
class CampaignStats:
    """What a campaign has cost and achieved."""

    campaign_id: str
    name: str
    figures: CampaignFigures
    point_value: float  # money per point
    cost: float
    cost_per_acquired_customer: float | None  # None: nobody acquired yet
