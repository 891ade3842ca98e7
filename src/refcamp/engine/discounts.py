"""The discount effects: set_discount (setDiscount, or per item setDiscountPerItem)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refcamp.engine.conditions import read_conditions
from refcamp.engine.effect_spec import EffectSpec, Planned, items_words, register, units
from refcamp.engine.kinds import BookingPort, EffectKind, item_said, money, register_kind
from refcamp.engine.types import Context
from refcamp.models import Effect
from refcamp.tables import TableReader


@register
class SetDiscount(EffectSpec):
    """A discount: a fixed `amount` or a `percent` of the session total (or, with
    scope = "items", of the cart items matching `items`), never more than what is left to pay.
    With `per_item`, one setDiscountPerItem per cart item unit (optionally those matching
    `items`): `amount` off each unit (at most its price) or `percent` of its price; a return
    rolls back the discounts of the returned units."""

    name = "set_discount"
    effect_type = "setDiscount"

    def __init__(
        self,
        label: str,
        amount: float | None,
        percent: float | None,
        scope: str,
        items: list[Any],
        per_item: bool = False,
    ) -> None:
        self.per_item = per_item
        self.label = label
        self.amount = amount
        self.percent = percent
        self.scope = scope
        self.items = items

    @classmethod
    def read(cls, reader: TableReader) -> EffectSpec | None:
        label = reader.text("name")
        amount = reader.get("amount", (int, float), None)
        percent = reader.get("percent", (int, float), None)
        scope = reader.choice("scope", ("session", "items"), "session")
        per_item = bool(reader.get("per_item", bool, False))
        if per_item and "scope" in reader.table:
            reader.problem("scope", "per_item discounts each cart item unit: no scope")
            return None
        raw_items = reader.get("items", list, None)
        if ("amount" in reader.table) == ("percent" in reader.table):
            reader.problem(None, "give either amount or percent")
            return None
        if amount is not None and amount <= 0:
            reader.problem("amount", f"must be more than 0, got {amount}")
            return None
        if percent is not None and not 0 < percent <= 100:
            reader.problem("percent", f"must be more than 0 and at most 100, got {percent}")
            return None
        items: list[Any] = []
        if per_item and raw_items is not None:
            found = read_conditions(raw_items, f"{reader.where}: items", reader.problems, "item")
            if found is None:
                return None
            items = found
        elif scope == "items":
            if raw_items is None:
                reader.problem(None, 'scope = "items" needs items = [item conditions]')
                return None
            found = read_conditions(raw_items, f"{reader.where}: items", reader.problems, "item")
            if found is None:
                return None
            items = found
        elif raw_items is not None:
            reader.problem("items", 'only goes with scope = "items"')
            return None
        if label is None or scope is None:
            return None
        return cls(label, amount, percent, scope, items, per_item)

    def plan_all(self, context: Context) -> list[Planned]:
        if not self.per_item:
            return super().plan_all(context)
        session = context.facts.session
        if session is None:
            return []
        profile = context.facts.profile
        params = {"profile": profile.id if profile else None}
        planned: list[Planned] = []
        left = max(session.total - sum(context.discounted), 0.0)
        for item, sub in units(context, self.items):
            if self.amount is not None:
                desired = min(self.amount, item.price)
            else:
                desired = item.price * (self.percent or 0) / 100
            desired = float(round(desired, 2))
            value = float(round(min(desired, left), 2))
            if value <= 0:
                continue
            left -= value
            props: dict[str, Any] = {
                "name": self.label,
                "value": value,
                "position": item.position,
                "subPosition": sub,
            }
            if value != desired:  # SetDiscountPerItemEffectProps: "the original value"
                props["desiredValue"] = desired
            planned.append((props, params))
        return planned

    def effect_type_of(self, props: Mapping[str, Any]) -> str:
        return SetDiscountPerItem.effect_type if "position" in props else self.effect_type

    def plan(self, context: Context) -> Planned | None:
        session = context.facts.session
        if session is None:
            return None  # a discount needs a cart
        left = max(session.total - sum(context.discounted), 0.0)
        if self.scope == "items":
            base = sum(
                i.price * i.quantity
                for i in session.cart_items
                if all(c.check(context, i).passed for c in self.items)
            )
        else:
            base = session.total
        value = self.amount if self.amount is not None else base * (self.percent or 0) / 100
        if self.scope == "items" and self.amount is not None:
            value = min(value, base)
        value = float(round(min(value, left), 2))  # money: always a decimal number
        if value <= 0:
            return None
        scope = "cartItems" if self.scope == "items" else "sessionTotal"
        profile = context.facts.profile
        return {"name": self.label, "value": value, "scope": scope}, {
            "profile": profile.id if profile else None
        }

    def usage(
        self, props: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[str, int, str | None] | None:
        return "setDiscount", props["value"], params["profile"]

    def planned(self, context: Context, props: Mapping[str, Any]) -> None:
        # What later discounts may take is what is left after this one.
        context.discounted.append(props["value"])

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        return book_discount(port, effect)

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        where = "on matching items" if props.get("scope") == "cartItems" else "off the total"
        return f"discount '{props.get('name')}': {money(props.get('value'))} {where}" + capped_said(
            props
        )

    def words(self) -> str:
        size = f"{self.amount:g} off" if self.amount is not None else f"{self.percent:g}% off"
        where = "matching items" if self.scope == "items" else "the session total"
        if self.per_item:
            where = "each cart item unit" + items_words(self.items)
        return f"discount '{self.label}': {size} {where}"


@register_kind
class SetDiscountPerItem(EffectKind):
    """A discount on one cart item unit (set_discount with per_item): Talon.One's
    setDiscountPerItem, with position and subPosition."""

    effect_type = "setDiscountPerItem"

    @classmethod
    def book(cls, port: BookingPort, effect: Effect) -> Effect | None:
        return book_discount(port, effect)

    @classmethod
    def said(cls, props: Mapping[str, Any]) -> str:
        words = f"discount '{props.get('name')}': {money(props.get('value'))}"
        return words + item_said(props, "position") + capped_said(props)


def book_discount(port: BookingPort, effect: Effect) -> Effect:
    """A discount is kept (for returns and rollbacks) when a session closes with it."""
    if port.final and port.session_id is not None:
        port.add_discount(effect)
    return effect


def capped_said(props: Mapping[str, Any]) -> str:
    """What a discount capped below the value asked (desiredValue) says of it."""
    if props.get("desiredValue") is None:
        return ""
    return f", capped from {money(props['desiredValue'])}: all that was left"
