"""What every effect a campaign file names is: EffectSpec, the registry EFFECTS, and the helpers
the kinds share in reading and planning (engine.effects and engine.discounts define the kinds)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from refcamp.clock import parse_duration
from refcamp.engine.conditions import read_conditions
from refcamp.engine.kinds import EffectKind, register_kind
from refcamp.engine.types import Context, CouldNotApply
from refcamp.models import CartItem, Catalog
from refcamp.tables import TableReader, unknown_hint

Planned = tuple[Mapping[str, Any], Mapping[str, Any]]  # (props, params)


class EffectSpec(EffectKind):
    """A kind a campaign file names; an instance is one effect as written in a rule."""

    name: ClassVar[str]  # the value of `effect` in TOML
    # Whether `plan` may answer CouldNotApply (then its whole rule is left out).
    fallible: ClassVar[bool] = False

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        raise NotImplementedError

    def plan(self, context: Context) -> Planned | CouldNotApply | None:
        raise NotImplementedError

    def plan_all(self, context: Context) -> list[Planned | CouldNotApply]:
        """Every effect this one plans: one, or none (`plan`), or one per cart item unit (the
        per-item effects, Talon.One's with cart item flattening: a unit is a sub-position)."""
        planned = self.plan(context)
        return [] if planned is None else [planned]

    def effect_type_of(self, props: Mapping[str, Any]) -> str:
        """The effectType of one planned effect (a per-item kind has its own)."""
        return self.effect_type

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

    def planned(self, context: Context, props: Mapping[str, Any]) -> None:
        """Called once the effect is kept (past the campaign limits)."""


EFFECTS: dict[str, type[EffectSpec]] = {}


def register(cls: type[EffectSpec]) -> type[EffectSpec]:
    EFFECTS[cls.name] = cls
    register_kind(cls)
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


def units(context: Context, items: list[Any]) -> list[tuple[CartItem, int]]:
    """The cart's units matching the item conditions `items`, as (item, sub-position): each unit
    of an item is one, as Talon.One's cart item flattening counts them."""
    session = context.facts.session
    if session is None:
        return []
    return [
        (item, sub)
        for item in session.cart_items
        if all(c.check(context, item).passed for c in items)
        for sub in range(item.quantity)
    ]


def read_per_item(reader: TableReader) -> tuple[bool, list[Any]] | None:
    """`per_item` (one effect per cart item unit) and its optional `items` (item conditions)."""
    per_item = bool(reader.get("per_item", bool, False))
    raw_items = reader.get("items", list, None)
    if raw_items is None or not per_item:
        return per_item, []
    found = read_conditions(raw_items, f"{reader.where}: items", reader.problems, "item")
    return None if found is None else (per_item, found)


def items_words(items: list[Any]) -> str:
    return " matching " + " and ".join(c.words() for c in items) if items else ""


def program_problems(program: str, catalog: Catalog, key: str = "program") -> list[tuple[str, str]]:
    """An effect's `program` (or a condition's `loyalty_balance`) that names no program."""
    if program in catalog.programs:
        return []
    hint = unknown_hint(program, catalog.programs)
    return [(key, f"unknown loyalty program {program!r}{hint}")]
