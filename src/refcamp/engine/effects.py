"""Effect kinds. Each is a table `{ effect = "NAME", ... }` registered in EFFECTS.

`plan(context)` is pure: it returns the Talon.One props the engine knows and the params the service
needs to carry the effect out (create the code, book the entry), or None when the effect cannot
apply to this request (e.g. no customer to give points to).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from refcamp.clock import add_duration, iso, parse_duration
from refcamp.engine.core import Context
from refcamp.models import Catalog
from refcamp.tables import TableReader, did_you_mean

Planned = tuple[Mapping[str, Any], Mapping[str, Any]]  # (props, params)


class EffectSpec:
    name: ClassVar[str]  # the value of `effect` in TOML
    effect_type: ClassVar[str]  # Talon.One's effectType

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        raise NotImplementedError

    def plan(self, context: Context) -> Planned | None:
        raise NotImplementedError

    def words(self) -> str:
        raise NotImplementedError

    def problems(self, catalog: Catalog) -> list[tuple[str, str]]:
        """(key, message) pairs for references that only the whole catalog can check."""
        return []

    def usage(
        self, props: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[str, int, str | None] | None:
        """What the planned effect counts against campaign limits: (action, amount, profile)."""
        return None


EFFECTS: dict[str, type[EffectSpec]] = {}


def register(cls: type[EffectSpec]) -> type[EffectSpec]:
    EFFECTS[cls.name] = cls
    return cls


def read_duration(reader: TableReader, key: str, default: Any, allowed: str) -> Any:
    """A duration such as 30D, or the word `allowed` (immediate / unlimited)."""
    value = reader.get(key, str, default)
    if key in reader.table and isinstance(value, str) and value != allowed:
        try:
            parse_duration(value)
        except ValueError as error:
            reader.problem(key, f"{error}, or {allowed!r}")
            return None
    return value


@register
class CreateReferralCode(EffectSpec):
    """Create a referral code for the current customer (the advocate) in this campaign."""

    name = "create_referral_code"
    effect_type = "referralCreated"

    def __init__(self, usage_limit: int | None, valid_for: str | None) -> None:
        self.usage_limit = usage_limit
        self.valid_for = valid_for

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        usage_limit = reader.integer("usage_limit", None, minimum=0)
        valid_for = read_duration(reader, "valid_for", None, "unlimited")
        return cls(usage_limit, valid_for)

    def plan(self, context: Context) -> Planned | None:
        profile = context.facts.profile
        if profile is None:
            return None  # an anonymous session has no advocate
        settings = context.campaign.referrals
        valid_for = self.valid_for or settings.valid_for
        expiry = None
        if valid_for and valid_for != "unlimited":
            expiry = add_duration(context.facts.now, valid_for)
        params = {
            "advocate": profile.id,
            "pattern": settings.pattern,
            "characters": settings.characters,
            "usage_limit": settings.usage_limit if self.usage_limit is None else self.usage_limit,
            "expiry_date": expiry,
        }
        return {"value": None}, params

    def usage(
        self, props: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[str, int, str | None] | None:
        return "createReferral", 1, params["advocate"]

    def words(self) -> str:
        extra = []
        if self.usage_limit is not None:
            extra.append(f"usable {self.usage_limit or 'unlimited'} times")
        if self.valid_for:
            extra.append(f"valid for {self.valid_for}")
        return "create a referral code" + (f" ({', '.join(extra)})" if extra else "")


@register
class AddLoyaltyPoints(EffectSpec):
    """Add points to the current customer or to the advocate of the session's referral code."""

    name = "add_loyalty_points"
    effect_type = "addLoyaltyPoints"
    recipients = ("current", "advocate")

    def __init__(
        self,
        program: str,
        points: int,
        recipient: str,
        reason: str,
        pending: str | None,
        validity: str | None,
    ) -> None:
        self.program = program
        self.points = points
        self.recipient = recipient
        self.reason = reason
        self.pending = pending
        self.validity = validity

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        program = reader.text("program")
        points = reader.integer("points", minimum=1)
        recipient = reader.choice("recipient", cls.recipients, "current")
        reason = reader.text("reason", "")
        pending = read_duration(reader, "pending", None, "immediate")
        validity = read_duration(reader, "validity", None, "unlimited")
        if None in (program, points, recipient):
            return None
        return cls(program, points, recipient, reason or f"{points} points", pending, validity)

    def problems(self, catalog: Catalog) -> list[tuple[str, str]]:
        if self.program in catalog.programs:
            return []
        known = ", ".join(catalog.programs) or "none defined"
        hint = did_you_mean(self.program, catalog.programs)
        return [("program", f"unknown loyalty program {self.program!r}{hint}; known: {known}")]

    def plan(self, context: Context) -> Planned | None:
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
        program = context.catalog.programs[self.program]
        pending = self.pending or program.pending
        validity = self.validity or program.validity
        start = facts.now if pending == "immediate" else add_duration(facts.now, pending)
        expiry = None if validity == "unlimited" else add_duration(start, validity)
        props: dict[str, Any] = {
            "name": self.reason,
            "programId": self.program,
            "subLedgerId": "",
            "value": self.points,
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

    def words(self) -> str:
        who = "the advocate" if self.recipient == "advocate" else "the current customer"
        return f"add {self.points} points to {who} in {self.program} ({self.reason!r})"


def read_effect(table: Any, where: str, problems: list[str]) -> EffectSpec | None:
    if not isinstance(table, dict):
        problems.append(f'{where}: an effect must be a table like {{ effect = "..." }}')
        return None
    reader = TableReader(table, where, problems)
    name = reader.text("effect")
    if not isinstance(name, str):
        return None
    kind = EFFECTS.get(name)
    if kind is None:
        problems.append(
            f"{where}: effect: unknown effect {name!r}{did_you_mean(name, EFFECTS)}; "
            f"one of: {', '.join(EFFECTS)}"
        )
        return None
    spec = kind.read(reader)
    reader.done()
    return spec
