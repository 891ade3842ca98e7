"""The effect kinds a campaign file names. Each is a table `{ effect = "NAME", ... }` registered
in EFFECTS (by TOML name) and in engine.kinds.KINDS (by effectType).

`plan(context)` is pure: it returns the Talon.One props the engine knows and the params the service
needs to carry the effect out (create the code, book the entry), or None when the effect cannot
apply to this request (e.g. no customer to give points to). `book(port, effect)` carries it out
through the service's BookingPort; `said(props)` puts it in words for output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from refcamp.clock import add_duration, iso
from refcamp.engine import discounts as _discounts  # noqa: F401  (registers set_discount)
from refcamp.engine.conditions import MISSING, NUMERIC_PATHS, resolve
from refcamp.engine.effect_spec import (
    EFFECTS,
    EffectSpec,
    Planned,
    items_words,
    program_problems,
    read_duration,
    read_per_item,
    register,
    units,
)
from refcamp.engine.kinds import (
    KINDS,
    BookingPort,
    dates_said,
    item_said,
    points_said,
    with_props,
)
from refcamp.engine.types import Context, CouldNotApply
from refcamp.models import Campaign, Catalog, CodeSettings, Effect
from refcamp.tables import LARGEST, Problem, TableReader, did_you_mean


class CreateCode(EffectSpec):
    """Create a code for the current customer from the campaign's code settings; optional
    `usage_limit` and `valid_for` override them for this rule."""

    limit_action: ClassVar[str]  # what campaign limits count

    def __init__(self, usage_limit: int | None, valid_for: str | None) -> None:
        self.usage_limit = usage_limit
        self.valid_for = valid_for

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        usage_limit = reader.integer("usage_limit", None, minimum=0)
        valid_for = read_duration(reader, "valid_for", None, "unlimited")
        return cls(usage_limit, valid_for)

    def settings(self, campaign: Campaign) -> CodeSettings:
        raise NotImplementedError

    def plan(self, context: Context) -> Planned | None:
        profile = context.facts.profile
        if profile is None:
            return None  # an anonymous session has nobody to own the code
        settings = self.settings(context.campaign)
        valid_for = self.valid_for or settings.valid_for
        expiry = None
        if valid_for and valid_for != "unlimited":
            expiry = add_duration(context.facts.now, valid_for)
        params = {
            "owner": profile.id,
            "pattern": settings.pattern,
            "characters": settings.characters,
            "usage_limit": settings.usage_limit if self.usage_limit is None else self.usage_limit,
            "expiry_date": expiry,
        }
        return self.props(profile.id), params

    def props(self, owner: str) -> dict[str, Any]:
        return {"value": None}

    code_kind: ClassVar[str]  # referral, coupon

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        """Draw a free code from the effect's pattern and store it: a referral code for an
        advocate, or a coupon reserved for its customer."""
        return with_props(effect, value=port.create_code(cls.code_kind, effect))

    def usage(
        self, props: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[str, int, str | None] | None:
        return self.limit_action, 1, params["owner"]


@register
class CreateReferralCode(CreateCode):
    """Create a referral code for the current customer (the advocate) in this campaign."""

    name = "create_referral_code"
    effect_type = "referralCreated"
    limit_action = "createReferral"
    code_kind = "referral"

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"referral code {props.get('value')} created"

    def settings(self, campaign: Campaign) -> CodeSettings:
        return campaign.referrals

    def words(self) -> str:
        extra = []
        if self.usage_limit is not None:
            extra.append(f"usable {self.usage_limit or 'unlimited'} times")
        if self.valid_for:
            extra.append(f"valid for {self.valid_for}")
        return "create a referral code" + (f" ({', '.join(extra)})" if extra else "")


@register
class AddLoyaltyPoints(EffectSpec):
    """Add points to the current customer or to the advocate of the session's referral code:
    a fixed number (`points`), or `points_per` unit of a numeric value (`of`), rounded down.
    With `per_item`, once per cart item unit (optionally those matching `items`): `points` per
    unit, or `points_per` unit of its price; each effect names its cartItemPosition and
    cartItemSubPosition, and a return rolls back what the returned units earned."""

    name = "add_loyalty_points"
    effect_type = "addLoyaltyPoints"
    recipients = ("current", "advocate")

    def __init__(
        self,
        program: str,
        points: int | None,
        recipient: str,
        reason: str,
        pending: str | None,
        validity: str | None,
        points_per: float | None = None,
        of: str | None = None,
        per_item: bool = False,
        items: list[Any] | None = None,
    ) -> None:
        self.per_item = per_item
        self.items = items or []
        self.program = program
        self.points = points
        self.recipient = recipient
        self.reason = reason
        self.pending = pending
        self.validity = validity
        self.points_per = points_per
        self.of = of

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        program = reader.text("program")
        points = reader.integer("points", None, minimum=1)
        points_per = reader.get("points_per", (int, float), None)
        of = reader.choice("of", NUMERIC_PATHS, None)
        recipient = reader.choice("recipient", cls.recipients, "current")
        reason = reader.text("reason", "")
        pending = read_duration(reader, "pending", None, "immediate")
        validity = read_duration(reader, "validity", None, "unlimited")
        per_item = read_per_item(reader)
        if per_item is None:
            return None
        if "items" in reader.table and not per_item[0]:
            reader.problem("items", "only goes with per_item = true")
            return None
        if per_item[0] and "of" in reader.table:
            reader.problem("of", "per_item counts points_per per unit of each item's price: no of")
            return None
        if per_item[0] and "points_per" in reader.table and "points" not in reader.table:
            of = "item.price"
        if ("points" in reader.table) == ("points_per" in reader.table):
            reader.problem(None, "give either points (a fixed number) or points_per with of")
            return None
        if "points_per" in reader.table:
            if points_per is not None and not 0 < points_per <= 1_000_000:
                reader.problem(
                    "points_per", f"must be more than 0 and at most 1000000, got {points_per}"
                )
                return None
            if "of" not in reader.table and not per_item[0]:
                reader.problem(None, 'points_per needs of (e.g. of = "session.total")')
                return None
        elif "of" in reader.table:
            reader.problem("of", "only goes with points_per")
            return None
        if program is None or recipient is None or (points is None and points_per is None):
            return None
        if points is not None and points < 1:
            return None
        if points_per is not None and of is None:
            return None
        default = f"{points} points" if points is not None else f"{points_per:g} points per {of}"
        if per_item[0]:
            default += " per item"
        return cls(
            program,
            points,
            recipient,
            reason or default,
            pending,
            validity,
            points_per,
            of,
            *per_item,
        )

    def problems(self, catalog: Catalog) -> list[tuple[str, str]]:
        return program_problems(self.program, catalog)

    def amount(self, context: Context) -> int:
        if self.points is not None:
            return self.points
        value = resolve(self.of or "", context, None)
        if value is MISSING:
            return 0
        return math.floor(value * (self.points_per or 0) + 1e-9)

    def plan_all(self, context: Context) -> list[Planned]:
        if not self.per_item:
            return super().plan_all(context)
        planned = []
        for item, sub in units(context, self.items):
            if self.points is not None:
                points = self.points
            else:
                points = math.floor(item.price * (self.points_per or 0) + 1e-9)
            found = self._planned(context, points)
            if found is not None:
                props, params = found
                props["cartItemPosition"], props["cartItemSubPosition"] = item.position, sub
                planned.append((props, params))
        return planned

    def plan(self, context: Context) -> Planned | None:
        return self._planned(context, self.amount(context))

    def _planned(
        self, context: Context, amount: int
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        facts = context.facts
        if self.recipient == "advocate":
            referral = facts.referral
            if referral is None or not context.referral.valid_for(context.campaign.id):
                return None  # no valid referral, so no advocate to reward
            recipient = referral.advocate_id
        else:
            if facts.profile is None:
                return None
            recipient = facts.profile.id
        points = min(amount, LARGEST)  # a total in the billions is someone's typo
        if points <= 0:
            return None  # e.g. 1 point per 10 on a total of 5
        program = context.catalog.programs[self.program]
        pending = self.pending or program.pending
        validity = self.validity or program.validity
        start = facts.now if pending == "immediate" else add_duration(facts.now, pending)
        expiry = None if validity == "unlimited" else add_duration(start, validity)
        props: dict[str, Any] = {
            "name": self.reason,
            "programId": self.program,
            "subLedgerId": "",
            "value": points,
            "recipientIntegrationId": recipient,
            "transactionUUID": None,
        }
        if pending != "immediate":
            props["startDate"] = iso(start)
        if expiry is not None:
            props["expiryDate"] = iso(expiry)
        return props, {"start_date": start, "expiry_date": expiry}

    def usage(
        self, props: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[str, int, str | None] | None:
        return "addLoyaltyPoints", props["value"], props["recipientIntegrationId"]

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        if not port.final:
            return effect  # tentative until the session closes
        # A reopen keeps the active points of the first close: closing again adds only what
        # the rule gives beyond them (AddLoyaltyPointsEffectProps.desiredValue: the original
        # amount), never the same points twice.
        desired = effect.props["value"]
        kept = port.kept_points(effect)
        if kept >= desired:
            port.note(
                f"add_loyalty_points: the {desired} points for "
                f"{effect.props['recipientIntegrationId']} ('{effect.props['name']}') stayed "
                "from the session's first close (a reopen keeps active points); none added again"
            )
            return None
        if kept:
            effect = with_props(effect, value=desired - kept, desiredValue=desired)
        params = effect.params
        uuid = port.add_entry(effect, "addition", params["start_date"], params["expiry_date"])
        return with_props(effect, transactionUUID=uuid)

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        words = points_said(props, "+") + item_said(props)
        if props.get("desiredValue") is not None:
            words += f" (of {props['desiredValue']}: the rest stayed from the first close)"
        if props.get("transactionUUID") is None:
            words += ", not booked until the session closes"
        return words + dates_said(props)

    def words(self) -> str:
        who = "the advocate" if self.recipient == "advocate" else "the current customer"
        if self.points is not None:
            amount = f"{self.points} point{'' if self.points == 1 else 's'}"
        else:
            amount = f"{self.points_per:g} point{'' if self.points_per == 1 else 's'} per unit of"
            amount += f" {self.of}"
        if self.per_item:
            amount += " for each cart item unit" + items_words(self.items)
        return f"add {amount} to {who} in {self.program} ('{self.reason}')"


@register
class DeductLoyaltyPoints(EffectSpec):
    """Deduct points from the current customer, never below zero.

    The engine plans it only when the customer has the points (`Facts.points`, read inside the
    request's write transaction, less what this request deducted before): else it cannot be
    applied and none of its rule's effects apply (CouldNotApply). Booking checks again against
    every committed entry of the customer's program, as a last guard."""

    name = "deduct_loyalty_points"
    effect_type = "deductLoyaltyPoints"
    fallible = True

    def __init__(self, program: str, points: int, reason: str) -> None:
        self.program = program
        self.points = points
        self.reason = reason

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        program = reader.text("program")
        points = reader.integer("points", minimum=1)
        reason = reader.text("reason", "")
        if program is None or points is None:
            return None
        return cls(program, points, reason or f"{points} points")

    def problems(self, catalog: Catalog) -> list[tuple[str, str]]:
        return program_problems(self.program, catalog)

    def plan(self, context: Context) -> Planned | CouldNotApply | None:
        profile = context.facts.profile
        if profile is None:
            return None
        available = context.points(self.program)
        if self.points > available:
            return CouldNotApply(
                f"{profile.id} has {max(available, 0)} points in {self.program}, not {self.points}"
            )
        props = {
            "ruleTitle": "",
            "programId": self.program,
            "subLedgerId": "",
            "value": self.points,
            "recipientIntegrationId": profile.id,
            "transactionUUID": None,
            "name": self.reason,
        }
        return props, {}

    def planned(self, context: Context, props: Mapping[str, Any]) -> None:
        context.deducted[self.program] = context.deducted.get(self.program, 0) + props["value"]

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        props = effect.props
        profile_id, program = props["recipientIntegrationId"], props["programId"]
        available = port.spendable(profile_id, program)
        if props["value"] > available:
            port.note(
                f"deduct_loyalty_points: {profile_id} has {available} points in {program}, "
                f"not {props['value']}; nothing deducted"
            )
            return None
        if not port.final:
            return effect
        return with_props(effect, transactionUUID=port.add_entry(effect, "subtraction", None, None))

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return points_said(props, "-")

    def words(self) -> str:
        return f"deduct {self.points} points in {self.program} ('{self.reason}')"


@register
class CreateCoupon(CreateCode):
    """Create a coupon for the current customer (reserved for them) from [campaign.coupons]."""

    name = "create_coupon"
    effect_type = "couponCreated"
    limit_action = "createCoupon"
    code_kind = "coupon"

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"coupon {props.get('value')} created for {props.get('profileId')}"

    def settings(self, campaign: Campaign) -> CodeSettings:
        return campaign.coupons

    def props(self, owner: str) -> dict[str, Any]:
        return {"value": None, "profileId": owner}

    def words(self) -> str:
        return "create a coupon for the customer"


@register
class ReserveCoupon(EffectSpec):
    """Reserve an existing coupon code for the current customer (softly: anyone may still redeem
    it; it shows in the customer's inventory)."""

    name = "reserve_coupon"
    effect_type = "reserveCoupon"

    def __init__(self, code: str) -> None:
        self.code = code

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        code = reader.text("code")
        return cls(code) if isinstance(code, str) else None

    def plan(self, context: Context) -> Planned | None:
        profile = context.facts.profile
        if profile is None:
            return None
        props = {
            "couponValue": self.code,
            "profileIntegrationId": profile.id,
            "isNewReservation": True,
        }
        return props, {}

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        code, profile_id = effect.props["couponValue"], effect.props["profileIntegrationId"]
        coupon = port.coupon(code)
        if coupon is None:
            port.note(f"reserve_coupon: no coupon {code!r}; nothing reserved")
            return None
        # A soft reservation, as createCouponReservation's ("Any customer can use a reserved
        # coupon"); a coupon made for a recipient is theirs alone and not reservable ("coupons
        # created for a specific user are not reservable", docs.talon.one, using coupon wallets).
        if coupon.recipient_id is not None:
            if coupon.recipient_id != profile_id:
                owner = coupon.recipient_id
                port.note(f"reserve_coupon: {code} is reserved for {owner}; not for {profile_id}")
                return None
            return with_props(effect, isNewReservation=False)
        return with_props(effect, isNewReservation=port.reserve_coupon(code, profile_id))

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        new = "reserved" if props.get("isNewReservation") else "was already reserved"
        return f"coupon {props.get('couponValue')} {new} for {props.get('profileIntegrationId')}"

    def words(self) -> str:
        return f"reserve coupon {self.code} for the customer"


@register
class ShowNotification(EffectSpec):
    """A message for the integration to show (nothing is stored)."""

    name = "show_notification"
    effect_type = "showNotification"

    def __init__(self, kind: str, title: str, body: str) -> None:
        self.kind = kind
        self.title = title
        self.body = body

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        kind = reader.text("type", "info")
        title = reader.text("title")
        body = reader.text("body", "")
        if title is None:
            return None
        return cls(kind or "info", title, body or "")

    def plan(self, context: Context) -> Planned | None:
        return {"notificationType": self.kind, "title": self.title, "body": self.body}, {}

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"[{props.get('notificationType')}] {props.get('title')}: {props.get('body')}"

    def words(self) -> str:
        return f"show notification '{self.title}'"


@register
class UpdateAttribute(EffectSpec):
    """Set a profile or session attribute; the new value stays even if the session is cancelled."""

    name = "update_attribute"
    effect_type = "updateAttribute"
    prefixes = ("profile.attributes.", "session.attributes.")

    def __init__(self, path: str, value: Any) -> None:
        self.path = path
        self.value = value

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        path = reader.text("path")
        value = reader.get("value", (str, int, float, bool, list, dict))
        if not isinstance(path, str) or value is None:
            return None
        if not path.startswith(cls.prefixes) or not path.split(".attributes.", 1)[1]:
            reader.problem(
                "path", f"{path!r} must be profile.attributes.NAME or session.attributes.NAME"
            )
            return None
        return cls(path, value)

    def plan(self, context: Context) -> Planned | None:
        owner, name = self.path.split(".attributes.", 1)
        facts = context.facts
        if owner == "profile" and facts.profile is None:
            return None
        if owner == "session" and facts.session is None:
            return None
        owner_id = facts.profile.id if owner == "profile" else facts.session.id  # type: ignore[union-attr]
        return {"path": self.path, "value": self.value}, {
            "owner": owner,
            "owner_id": owner_id,
            "name": name,
        }

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        params = effect.params
        port.set_attribute(
            params["owner"], params["owner_id"], params["name"], effect.props["value"]
        )
        return effect

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"{props.get('path')} = {json.dumps(props.get('value'), ensure_ascii=False)}"

    def words(self) -> str:
        return f"set {self.path} to {json.dumps(self.value, ensure_ascii=False)}"


class AudienceEffect(EffectSpec):
    def __init__(self, audience: str) -> None:
        self.audience = audience

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        audience = reader.text("audience")
        return cls(audience) if isinstance(audience, str) else None

    def plan(self, context: Context) -> Planned | None:
        profile = context.facts.profile
        if profile is None:
            return None
        return {"audienceName": self.audience, "profileIntegrationId": profile.id}, {}


@register
class AddToAudience(AudienceEffect):
    """Add the current customer to an audience."""

    name = "add_to_audience"
    effect_type = "addToAudience"

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        port.join_audience(effect.props["audienceName"], effect.props["profileIntegrationId"])
        return effect

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"{props.get('profileIntegrationId')} joins audience '{props.get('audienceName')}'"

    def words(self) -> str:
        return f"add the customer to audience '{self.audience}'"


@register
class RemoveFromAudience(AudienceEffect):
    """Remove the current customer from an audience."""

    name = "remove_from_audience"
    effect_type = "removeFromAudience"

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        port.leave_audience(effect.props["audienceName"], effect.props["profileIntegrationId"])
        return effect

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"{props.get('profileIntegrationId')} leaves audience '{props.get('audienceName')}'"

    def words(self) -> str:
        return f"remove the customer from audience '{self.audience}'"


@register
class CustomEffect(EffectSpec):
    """An effect of your own, passed through to the integration: a name and a payload."""

    name = "custom_effect"
    effect_type = "customEffect"

    def __init__(self, effect_name: str, payload: dict[str, Any]) -> None:
        self.effect_name = effect_name
        self.payload = payload

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        effect_name = reader.text("name")
        payload = reader.get("payload", dict, {})
        if not isinstance(effect_name, str):
            return None
        return cls(effect_name, payload or {})

    def plan(self, context: Context) -> Planned | None:
        return {"name": self.effect_name, "payload": _plain(self.payload)}, {}

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        return f"{props.get('name')} {json.dumps(props.get('payload'), ensure_ascii=False)}"

    def words(self) -> str:
        return f"custom effect '{self.effect_name}'"


def _plain(value: Any) -> Any:
    """TOML values as JSON ones (TOML dates become ISO strings)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime) and value.tzinfo is not None:
        return iso(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def read_effect(table: Any, where: str, problems: list[Problem]) -> EffectSpec | None:
    if not isinstance(table, dict):
        problems.append(Problem(where, 'an effect must be a table like { effect = "..." }'))
        return None
    reader = TableReader(table, where, problems)
    name = reader.text("effect")
    if not isinstance(name, str):
        return None
    kind = EFFECTS.get(name)
    if kind is None:
        problems.append(
            Problem(
                f"{where}: effect",
                f"unknown effect {name!r}{did_you_mean(name, EFFECTS)}; "
                f"one of: {', '.join(EFFECTS)}",
            )
        )
        return None
    spec = kind.read(reader)
    reader.done()
    return spec


def said(effect: Effect) -> str:
    """An effect in words, for the effects table: its kind's, or its props for a type refcamp
    does not know (an effect read back from a newer state file)."""
    kind = KINDS.get(effect.effect_type)
    if kind is None:
        return ", ".join(f"{k}={v}" for k, v in effect.props.items())
    return kind.said(effect.props)
