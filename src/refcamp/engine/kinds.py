"""Effect kinds: one class per effectType refcamp emits, carrying everything about it.

A kind has its TOML name (`name`, None for the kinds refcamp makes itself), Talon.One's
`effect_type`, its words for output (`said(props)`, pure text) and how it is booked
(`book(port, effect)`). Booking goes through a BookingPort, which the service implements with
the store inside the request's transaction: the engine itself never does I/O.

The kinds a campaign file names are in engine.effects (which also reads and plans them); the
ones here are made by the engine (a code's verdict) or by the service (rollbacks). KINDS holds
every kind by effectType once engine.effects is imported: look kinds up through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Protocol

from refcamp.models import Coupon, Effect


class BookingPort(Protocol):
    """What a kind may do to book an effect: the service's Booking, inside the transaction."""

    final: bool  # book points, code uses and discounts (a session closing, a profile update)
    session_id: str | None

    def create_code(self, kind: str, effect: Effect) -> str:
        """Draw a free code ("referral" or "coupon") from the effect's params, store it."""

    def add_entry(
        self, effect: Effect, type: str, start_date: datetime | None, expiry_date: datetime | None
    ) -> str:
        """Book a ledger entry (addition, subtraction) from the effect's props, active from
        `start_date` (None: now); returns its transaction UUID."""

    def kept_points(self, effect: Effect) -> int:
        """Points this addLoyaltyPoints effect already stands for in the ledger: what a reopen
        left of the session's first close (same rule, recipient, program, reason and item),
        counted once (0 for a session closing for the first time)."""

    def spendable(self, profile_id: str, program: str) -> int:
        """What a deduction may take now, from every committed entry of the customer."""

    def redeem(self, kind: str, effect: Effect) -> None:
        """Count a use of the code in effect.props["value"] for the session."""

    def count_rejection(self, kind: str, effect: Effect) -> None:
        """Count the rejection of a code (its campaign's statistics)."""

    def coupon(self, code: str) -> Coupon | None:
        """The stored coupon, or None."""

    def reserve_coupon(self, code: str, profile_id: str) -> bool:
        """Reserve the coupon for the customer (a soft reservation); whether it is new."""

    def add_discount(self, effect: Effect) -> None:
        """Book the discount for the session."""

    def set_attribute(self, owner: str, owner_id: str, name: str, value: Any) -> None:
        """Set a profile's or a session's (`owner`) attribute."""

    def join_audience(self, audience: str, profile_id: str) -> None:
        """Add the customer to the audience (made when new)."""

    def leave_audience(self, audience: str, profile_id: str) -> None:
        """Remove the customer from the audience."""

    def note(self, text: str) -> None:
        """Say why an effect was left out."""


class EffectKind:
    name: ClassVar[str | None] = None  # the value of `effect` in TOML; None: refcamp makes it
    effect_type: ClassVar[str]  # Talon.One's effectType

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        """The effect in words, for the effects table."""
        raise NotImplementedError

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        """Carry the effect out; the effect as output (props completed), or None when it could
        not apply (after a port.note saying why). Most kinds store nothing."""
        return effect


KINDS: dict[str, type[EffectKind]] = {}


def register_kind(cls: type[EffectKind]) -> type[EffectKind]:
    if cls.effect_type in KINDS:
        raise ValueError(f"two effect kinds for {cls.effect_type}")
    KINDS[cls.effect_type] = cls
    return cls


def money(value: Any) -> str:
    """Money as people write it: 7, 7.50 (never 7.0)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"
    return str(value)


def with_props(effect: Effect, **props: Any) -> Effect:
    """The effect with props added (faster than dataclasses.replace, on every booking)."""
    return Effect(
        effect.campaign_id,
        effect.ruleset_id,
        effect.rule_index,
        effect.rule_name,
        effect.effect_type,
        {**effect.props, **props},
        effect.params,
    )


def points_said(props: Mapping[str, Any], sign: str) -> str:
    """Points given or taken back (addLoyaltyPoints and the rollbacks of entries)."""
    who, program = props.get("recipientIntegrationId"), props.get("programId")
    words = f"{sign}{props.get('value')} points for {who} in {program}"
    if props.get("name"):
        words += f" ({props['name']})"
    if props.get("desiredValue") is not None:
        words += f", capped from {props['desiredValue']}: all the campaign's limit had left"
    return words


def item_said(props: Mapping[str, Any], position: str = "cartItemPosition") -> str:
    """The cart item unit a per-item effect is for, in words ("" for a session's effect)."""
    if props.get(position) is None:
        return ""
    sub = props.get("cartItemSubPosition" if position == "cartItemPosition" else "subPosition")
    return f" on cart item {props[position]}" + (f" (unit {sub})" if sub is not None else "")


def dates_said(props: Mapping[str, Any]) -> str:
    words = ""
    if props.get("startDate"):
        words += f", pending until {props['startDate']}"
    if props.get("expiryDate"):
        words += f", expire {props['expiryDate']}"
    return words


# --- a session's codes: the engine's verdicts ----------------------------------------------------


class AcceptCode(EffectKind):
    code_kind: ClassVar[str]  # referral, coupon
    label: ClassVar[str]  # how output names the code

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"{cls.label} {props.get('value')} accepted"

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        if port.final and port.session_id is not None:
            port.redeem(cls.code_kind, effect)
        return effect


class RejectCode(EffectKind):
    code_kind: ClassVar[str]
    label: ClassVar[str]

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        reason, details = props.get("rejectionReason"), props.get("details")
        return f"{cls.label} {props.get('value')} rejected: {reason} ({details})"

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        # Counted at checkout only: an open session may be updated many times.
        if port.final and effect.campaign_id:
            port.count_rejection(cls.code_kind, effect)
        return effect


@register_kind
class AcceptReferral(AcceptCode):
    effect_type = "acceptReferral"
    code_kind, label = "referral", "referral code"


@register_kind
class RejectReferral(RejectCode):
    effect_type = "rejectReferral"
    code_kind, label = "referral", "referral code"


@register_kind
class AcceptCoupon(AcceptCode):
    effect_type = "acceptCoupon"
    code_kind, label = "coupon", "coupon"


@register_kind
class RejectCoupon(RejectCode):
    effect_type = "rejectCoupon"
    code_kind, label = "coupon", "coupon"


# --- rollbacks: the service makes them when a session is revoked or items come back ------------
# The service's rollback books them itself (reversing entries, uses and discounts): their kinds
# carry words only.


class RollbackCode(EffectKind):
    label: ClassVar[str]

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"use of {cls.label} {props.get('value')} given back"


@register_kind
class RollbackReferral(RollbackCode):
    effect_type = "rollbackReferral"
    label = "referral code"


@register_kind
class RollbackCoupon(RollbackCode):
    effect_type = "rollbackCoupon"
    label = "coupon"


@register_kind
class RollbackAddedLoyaltyPoints(EffectKind):
    effect_type = "rollbackAddedLoyaltyPoints"

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return points_said(props, "-") + item_said(props) + dates_said(props)


@register_kind
class RollbackDeductedLoyaltyPoints(EffectKind):
    effect_type = "rollbackDeductedLoyaltyPoints"

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return points_said(props, "+") + dates_said(props)


@register_kind
class RollbackDiscount(EffectKind):
    effect_type = "rollbackDiscount"

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        words = f"discount '{props.get('name')}' of {money(props.get('value'))} rolled back"
        return words + item_said(props)
