"""Condition kinds. Each is a table with one discriminating key (`event`, `referral`, ...) and
registers itself in CONDITIONS, so a new kind needs no change to the engine's core or the loader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any, ClassVar

from refcamp.engine.types import Check, Context
from refcamp.models import EVENTS, CartItem, Rule
from refcamp.tables import Problem, TableReader, did_you_mean, type_name


class Condition:
    key: ClassVar[str]  # the discriminating key
    # "request": a `when` list; "item": inside any_item or an items filter (paths item.*)
    scopes: ClassVar[tuple[str, ...]] = ("request",)

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        raise NotImplementedError

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        raise NotImplementedError

    def words(self) -> str:
        raise NotImplementedError

    def walk(self) -> Iterator[Condition]:
        """This condition and those nested in it."""
        yield self


CONDITIONS: dict[str, type[Condition]] = {}


def register(cls: type[Condition]) -> type[Condition]:
    CONDITIONS[cls.key] = cls
    return cls


def event_words(event: str) -> str:
    return EVENTS.get(event, f"event {event}")


@register
class EventCondition(Condition):
    """The request's event is NAME: a built-in (talon_session_closed, ...) or a custom event."""

    key = "event"

    def __init__(self, event: str) -> None:
        self.event = event

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        event = reader.text("event")
        if not isinstance(event, str):
            return None
        if event.startswith("talon_") and event not in EVENTS:
            reader.problem(
                "event", f"unknown built-in event {event!r}{did_you_mean(event, EVENTS)}"
            )
            return None
        return cls(event)

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        events = context.facts.events
        seen = ", ".join(events) if events else "no event"
        return Check(self.event in events, seen, self.event)

    def words(self) -> str:
        return event_words(self.event)


@register
class ReferralCondition(Condition):
    """The session carries a referral code that is valid for this campaign."""

    key = "referral"

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        value = reader.choice("referral", ["valid"])
        return cls() if value == "valid" else None

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        verdict = context.referral
        needed = "a valid referral code of this campaign"
        if verdict.code is None:
            return Check(False, "no referral code", needed)
        if verdict.valid_for(context.campaign.id):
            return Check(True, f"{verdict.code} (valid)", needed)
        if verdict.reason is None:
            return Check(False, f"{verdict.code} belongs to {verdict.campaign_id}", needed)
        return Check(False, f"{verdict.code}: {verdict.reason}", needed)

    def words(self) -> str:
        return "the referral code is valid"


@register
class CouponCondition(Condition):
    """The session carries a coupon code that is valid for this campaign."""

    key = "coupon"

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        value = reader.choice("coupon", ["valid"])
        return cls() if value == "valid" else None

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        needed = "a valid coupon code of this campaign"
        verdicts = context.coupons
        if not verdicts:
            return Check(False, "no coupon code", needed)
        valid = [
            v.code
            for v in verdicts.values()
            if v.reason is None and v.campaign_id == context.campaign.id
        ]
        if valid:
            return Check(True, f"{valid[0]} (valid)", needed)
        seen = "; ".join(
            f"{v.code}: {v.reason or f'belongs to {v.campaign_id}'}" for v in verdicts.values()
        )
        return Check(False, seen, needed)

    def words(self) -> str:
        return "a coupon code is valid"


@lru_cache(maxsize=4096)  # rules are frozen: the answer never changes
def mentions(rule: Rule, kind: type[Condition]) -> bool:
    """Whether a rule checks a condition of this kind anywhere, nested ones included."""
    return any(isinstance(c, kind) for top in rule.when for c in top.walk())


def read_condition(
    table: Any, where: str, problems: list[Problem], scope: str = "request"
) -> Condition | None:
    if not isinstance(table, dict):
        problems.append(Problem(where, 'a condition must be a table like { event = "..." }'))
        return None
    kinds = [key for key in table if key in CONDITIONS]
    if len(kinds) != 1:
        if kinds:
            problems.append(Problem(where, f"one condition per table, got {', '.join(kinds)}"))
        else:
            first = next(iter(table), "")
            hint = did_you_mean(first, CONDITIONS) if first else ""
            problems.append(
                Problem(
                    where,
                    f"unknown condition{f' {first!r}' if first else ''}{hint}; "
                    f"one of: {', '.join(CONDITIONS)}",
                )
            )
        return None
    kind = CONDITIONS[kinds[0]]
    if scope not in kind.scopes:
        problems.append(
            Problem(
                where,
                f"{kind.key} cannot be used inside an item filter; use attribute "
                "conditions on item.* paths",
            )
        )
        return None
    reader = TableReader(table, where, problems)
    condition = kind.read(reader, scope)
    reader.done()
    return condition


def read_conditions(
    raw: Any, where: str, problems: list[Problem], scope: str = "request"
) -> list[Condition] | None:
    """A list of condition tables; None (after a problem) when it is not a list."""
    if not isinstance(raw, list):
        problems.append(Problem(where, "expected an array of condition tables"))
        return None
    found = [
        read_condition(table, f"{where}[{i + 1}]", problems, scope) for i, table in enumerate(raw)
    ]
    return [c for c in found if c is not None]


# --- attributes ----------------------------------------------------------------------------------

NUMERIC_PATHS = {
    # Money is a decimal number however the prices were typed (so --explain shows 40.00).
    "session.total": lambda s: float(s.total),
    "session.cartItemTotal": lambda s: float(s.cart_item_total),
    "session.itemCount": lambda s: sum(i.quantity for i in s.cart_items),
}
ITEM_FIELDS = {
    "item.sku": ("sku", str),
    "item.name": ("name", str),
    "item.category": ("category", str),
    "item.price": ("price", float),
    "item.quantity": ("quantity", int),
}
PREFIXES = {
    "request": (
        "session.attributes.",
        "profile.attributes.",
        "event.attributes.",
        "referral.attributes.",
    ),
    "item": ("item.attributes.",),
}
ORDERING = ("<", "<=", ">", ">=")
OPS = ("==", "!=", *ORDERING, "in", "not_in", "contains", "starts_with", "exists")
MISSING: Any = object()


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def show(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if isinstance(value, float) and value == round(value, 2):
        return f"{value:.2f}"
    return json.dumps(value, ensure_ascii=False, default=str)


def _attribute(mapping: Mapping[str, Any] | None, name: str) -> Any:
    if mapping is None:
        return MISSING
    return mapping.get(name, MISSING)


def resolve(path: str, context: Context, item: CartItem | None) -> Any:
    """The value at a path, or MISSING."""
    facts = context.facts
    if path in NUMERIC_PATHS:
        return NUMERIC_PATHS[path](facts.session) if facts.session else MISSING
    if path in ITEM_FIELDS:
        if item is None:
            return MISSING
        value = getattr(item, ITEM_FIELDS[path][0])
        return MISSING if value == "" else value  # an item without a name or category
    head, _, name = path.partition(".attributes.")
    if head == "session":
        return _attribute(facts.session.attributes if facts.session else None, name)
    if head == "profile":
        return _attribute(facts.profile.attributes if facts.profile else None, name)
    if head == "event":
        return _attribute(facts.event_attributes, name)
    if head == "referral":
        return _attribute(facts.referral.attributes if facts.referral else None, name)
    if head == "item":
        return _attribute(item.attributes if item else None, name)
    return MISSING


def same(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (Python says True == 1)."""
    return isinstance(a, bool) == isinstance(b, bool) and bool(a == b)


def compare(op: str, seen: Any, value: Any) -> bool:
    """The comparison; values of the wrong type make it false, never a crash."""
    if op == "exists":
        return (seen is not MISSING) == (value is not False)
    if seen is MISSING:
        return False
    if op == "==":
        return same(seen, value)
    if op == "!=":
        return not same(seen, value)
    if op in ORDERING:
        if not is_number(seen):
            return False
        return {"<": seen < value, "<=": seen <= value, ">": seen > value, ">=": seen >= value}[op]
    if op == "in":
        return any(same(seen, v) for v in value)
    if op == "not_in":
        return not any(same(seen, v) for v in value)
    if op == "contains":
        if isinstance(seen, str):
            return isinstance(value, str) and value in seen
        return isinstance(seen, list) and any(same(v, value) for v in seen)
    if op == "starts_with":
        return isinstance(seen, str) and seen.startswith(value)
    return False


@register
class AttributeCondition(Condition):
    """`{ attribute = "PATH", op = "OP", value = V }`: compare a value of the request."""

    key = "attribute"
    scopes = ("request", "item")

    def __init__(self, path: str, op: str, value: Any) -> None:
        self.path = path
        self.op = op
        self.value = value

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        path = reader.text("attribute")
        op = reader.choice("op", OPS, "==")
        value = reader.get("value", (str, int, float, bool, list), MISSING)
        if not isinstance(path, str) or op is None:
            return None
        known = list(NUMERIC_PATHS) if scope == "request" else list(ITEM_FIELDS)
        unknown = path not in known and not (
            path.startswith(PREFIXES[scope]) and path.split(".attributes.", 1)[1]
        )
        if unknown:
            hint = did_you_mean(path, known + [p + "X" for p in PREFIXES[scope]])
            reader.problem(
                "attribute",
                f"unknown path {path!r}{hint}; one of: {', '.join(known)}, "
                f"{', '.join(p + 'NAME' for p in PREFIXES[scope])}",
            )
            # Go on: the op and value are checked too, so every problem shows in one run.
        condition = cls._checked(reader, path, op, value)
        return None if unknown else condition

    @classmethod
    def _checked(cls, reader: TableReader, path: str, op: str, value: Any) -> Condition | None:
        """The condition, once its op and value agree with each other and with the path."""
        numeric = path in NUMERIC_PATHS or ITEM_FIELDS.get(path, ("", str))[1] in (int, float)
        if op == "exists":
            if value is not MISSING and not isinstance(value, bool):
                reader.problem("value", "with op 'exists', value is true (default) or false")
                return None
            return cls(path, op, value)
        if value is MISSING:
            reader.problem(None, f"missing key 'value' (op {op!r} compares with a value)")
            return None
        if op in ("in", "not_in"):
            if not isinstance(value, list):
                reader.problem("value", f"op {op!r} needs an array, got {type_name(value)}")
                return None
            members = value
        else:
            if isinstance(value, list) and op != "contains":
                reader.problem("value", f"op {op!r} needs a single value, not an array")
                return None
            members = [value]
        if op in ORDERING and not all(is_number(v) for v in members):
            reader.problem("value", f"op {op!r} compares numbers, got {type_name(value)} {value!r}")
            return None
        if op == "starts_with" and not isinstance(value, str):
            reader.problem("value", f"op 'starts_with' needs a string, got {type_name(value)}")
            return None
        if (
            numeric
            and op in ("==", "!=", "in", "not_in")
            and not all(is_number(v) for v in members)
        ):
            reader.problem("value", f"{path} is a number; got {type_name(value)} {value!r}")
            return None
        if not numeric and path in ITEM_FIELDS and op in ORDERING:
            reader.problem("op", f"{path} is text; op {op!r} compares numbers")
            return None
        if numeric and op in ("contains", "starts_with"):
            reader.problem("op", f"{path} is a number; op {op!r} does not apply")
            return None
        return cls(path, op, value)

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        seen = resolve(self.path, context, item)
        return Check(
            compare(self.op, seen, self.value), f"{self.path} = {show(seen)}", self.needed()
        )

    def needed(self) -> str:
        if self.op == "exists":
            return "present" if self.value is not False else "absent"
        return f"{self.op} {show(self.value)}"

    def words(self) -> str:
        return f"{self.path} {self.needed()}"


@register
class AnyItemCondition(Condition):
    """`{ any_item = [conditions] }`: at least one cart item satisfies all of them."""

    key = "any_item"

    def __init__(self, conditions: list[Condition]) -> None:
        self.conditions = conditions

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        reader.known.add("any_item")
        inner = read_conditions(
            reader.table["any_item"], f"{reader.where}: any_item", reader.problems, "item"
        )
        if inner is None:
            return None
        if (
            not inner
            and isinstance(reader.table["any_item"], list)
            and not reader.table["any_item"]
        ):
            reader.problem("any_item", "needs at least one item condition")
            return None
        return cls(inner)

    def matches(self, context: Context, item: CartItem) -> bool:
        return all(c.check(context, item).passed for c in self.conditions)

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        items = context.facts.session.cart_items if context.facts.session else ()
        matching = [i for i in items if self.matches(context, i)]
        seen = f"{len(matching)} of {len(items)} items match" + (
            f" ({', '.join(i.sku for i in matching)})" if matching else ""
        )
        return Check(bool(matching), seen, "at least one item")

    def words(self) -> str:
        return "an item with " + " and ".join(c.words() for c in self.conditions)

    def walk(self) -> Iterator[Condition]:
        yield self
        for condition in self.conditions:
            yield from condition.walk()


@register
class AudienceCondition(Condition):
    """`{ audience = "NAME" }`: the current customer is in the audience."""

    key = "audience"

    def __init__(self, audience: str) -> None:
        self.audience = audience

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        audience = reader.text("audience")
        return cls(audience) if isinstance(audience, str) else None

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        audiences = context.facts.audiences
        seen = ", ".join(sorted(audiences)) or "no audience"
        if context.facts.profile is None:
            seen = "no customer"
        return Check(self.audience in audiences, f"audiences: {seen}", self.audience)

    def words(self) -> str:
        return f"the customer is in audience '{self.audience}'"


class Combinator(Condition):
    scopes = ("request", "item")

    def __init__(self, conditions: list[Condition]) -> None:
        self.conditions = conditions

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        reader.known.add(cls.key)
        raw = reader.table[cls.key]
        inner = read_conditions(raw, f"{reader.where}: {cls.key}", reader.problems, scope)
        if inner is None:
            return None
        if not raw:
            reader.problem(cls.key, "needs at least one condition")
            return None
        return cls(inner)

    def results(self, context: Context, item: CartItem | None) -> list[Check]:
        return [c.check(context, item) for c in self.conditions]

    def walk(self) -> Iterator[Condition]:
        yield self
        for condition in self.conditions:
            yield from condition.walk()


@register
class AllCondition(Combinator):
    """`{ all = [...] }`: every inner condition holds."""

    key = "all"

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        checks = self.results(context, item)
        failed = [c for c in checks if not c.passed]
        seen = "; ".join(c.seen for c in (failed or checks))
        return Check(not failed, seen, "all of: " + "; ".join(c.needed for c in checks))

    def words(self) -> str:
        return "(" + " and ".join(c.words() for c in self.conditions) + ")"


@register
class AnyCondition(Combinator):
    """`{ any = [...] }`: at least one inner condition holds."""

    key = "any"

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        checks = self.results(context, item)
        passed = [c for c in checks if c.passed]
        seen = "; ".join(c.seen for c in (passed or checks))
        return Check(bool(passed), seen, "any of: " + "; ".join(c.needed for c in checks))

    def words(self) -> str:
        return "(" + " or ".join(c.words() for c in self.conditions) + ")"


@register
class NotCondition(Condition):
    """`{ not = { ... } }`: the inner condition does not hold."""

    key = "not"
    scopes = ("request", "item")

    def __init__(self, condition: Condition) -> None:
        self.condition = condition

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        reader.known.add("not")
        inner = read_condition(reader.table["not"], f"{reader.where}: not", reader.problems, scope)
        return cls(inner) if inner is not None else None

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        inner = self.condition.check(context, item)
        return Check(not inner.passed, inner.seen, f"not ({inner.needed})")

    def words(self) -> str:
        return f"not {self.condition.words()}"

    def walk(self) -> Iterator[Condition]:
        yield self
        yield from self.condition.walk()


# --- loyalty -------------------------------------------------------------------------------------

BALANCE_OPS = ("==", "!=", *ORDERING)


@register
class LoyaltyBalanceCondition(Condition):
    """`{ loyalty_balance = "PROGRAM", op = ">=", value = N }`: the current customer's active
    points in a program (what they may spend now, less what this request's earlier rules
    deducted), as Talon.One's rule builder tests a customer's loyalty balance."""

    key = "loyalty_balance"

    def __init__(self, program: str, op: str, value: int | float) -> None:
        self.program = program
        self.op = op
        self.value = value

    @classmethod
    def read(cls, reader: TableReader, scope: str) -> Condition | None:
        program = reader.text("loyalty_balance")
        op = reader.choice("op", BALANCE_OPS, ">=")
        value = reader.get("value", (int, float))  # a problem when missing or not a number
        if not isinstance(program, str) or op is None or not is_number(value):
            return None
        return cls(program, op, value)

    def check(self, context: Context, item: CartItem | None = None) -> Check:
        needed = f"{self.op} {show(self.value)}"
        if context.facts.profile is None:
            return Check(False, f"{self.program} balance: no customer", needed)
        seen = context.points(self.program)
        passed = compare(self.op, seen, self.value)
        return Check(passed, f"{self.program} balance = {seen}", needed)

    def words(self) -> str:
        return f"the customer's {self.program} balance {self.op} {show(self.value)}"
