"""Customer sessions: their carts (checked item by item when read back) and the effects of
their latest evaluation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from refcamp.clock import iso
from refcamp.models import CartItem, Effect, Session
from refcamp.store.queries.rows import (
    _effects,
    _effects_of,
    _is_number,
    _list,
    _object,
    _strings,
    _time,
    dumps,
    loader,
)

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def get_session(conn: Connection, session_id: str) -> Session | None:
    row = conn.execute("SELECT rowid, * FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return _session(row) if row else None


@loader("session", "id")
def _session(row: sqlite3.Row) -> Session:
    costs = _object(row["additional_costs"])
    if not all(_is_number(v) for v in costs.values()):
        raise ValueError("additional costs are not all numbers")
    return Session(
        id=row["id"],
        profile_id=row["profile_id"],
        state=row["state"],
        cart_items=tuple(_cart_item(item) for item in _list(row["cart_items"])),
        coupon_codes=_strings(row["coupon_codes"]),
        referral_code=row["referral_code"],
        attributes=_object(row["attributes"]),
        additional_costs=costs,
        identifiers=_strings(row["identifiers"]),
        created=_time(row["created"]),
        updated=_time(row["updated"]),
        talon_id=row["rowid"],
    )


def customer_sessions(conn: Connection, profile_id: str, limit: int) -> list[Session]:
    """A customer's newest sessions first (at most `limit`)."""
    rows = conn.execute(
        "SELECT rowid, * FROM sessions WHERE profile_id = ? ORDER BY created DESC, rowid DESC "
        "LIMIT ?",
        (profile_id, limit),
    )
    return [_session(row) for row in rows]


def count_customer_sessions(conn: Connection, profile_id: str) -> int:
    row = conn.execute("SELECT count(*) FROM sessions WHERE profile_id = ?", (profile_id,))
    return int(row.fetchone()[0])


# The types of a stored cart item's fields, as save_session writes them.
CART_FIELDS: dict[str, tuple[type, ...]] = {
    "sku": (str,),
    "quantity": (int,),
    "name": (str,),
    "price": (int, float),
    "category": (str,),
    "weight": (int, float),
    "position": (int,),
    "attributes": (dict,),
}


def _cart_item(item: Any) -> CartItem:
    if not isinstance(item, dict) or "sku" not in item or "quantity" not in item:
        raise ValueError("a cart item is not an object with a sku and a quantity")
    for name, value in item.items():
        kinds = CART_FIELDS.get(name)
        if kinds is None or isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(f"cart item field {name!r} is {value!r}")
    return CartItem(**item)


def save_session(conn: Connection, session: Session) -> None:
    items = [
        {
            "sku": i.sku,
            "quantity": i.quantity,
            "name": i.name,
            "price": i.price,
            "category": i.category,
            "weight": i.weight,
            "position": i.position,
            "attributes": dict(i.attributes),
        }
        for i in session.cart_items
    ]
    conn.execute(
        "INSERT INTO sessions (id, profile_id, state, cart_items, coupon_codes, referral_code, "
        "attributes, additional_costs, identifiers, created, updated) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET profile_id = excluded.profile_id, state = excluded.state, "
        "cart_items = excluded.cart_items, coupon_codes = excluded.coupon_codes, "
        "referral_code = excluded.referral_code, attributes = excluded.attributes, "
        "additional_costs = excluded.additional_costs, identifiers = excluded.identifiers, "
        "updated = excluded.updated",
        (
            session.id,
            session.profile_id,
            session.state,
            dumps(items),
            dumps(list(session.coupon_codes)),
            session.referral_code,
            dumps(dict(session.attributes)),
            dumps(dict(session.additional_costs)),
            dumps(list(session.identifiers)),
            iso(session.created),
            iso(session.updated),
        ),
    )


def save_session_effects(conn: Connection, session_id: str, effects: Iterable[Effect]) -> None:
    """Keep the effects of a session's latest evaluation (getCustomerSession shows them)."""
    conn.execute("UPDATE sessions SET effects = ? WHERE id = ?", (_effects(effects), session_id))


def session_effects(conn: Connection, session_id: str) -> list[Effect]:
    row = conn.execute("SELECT effects FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return _effects_of(row[0] if row else "[]")


def first_session(conn: Connection, session: Session) -> bool:
    """Whether no session of the same customer came before this one."""
    if session.profile_id is None:
        return True
    row = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM sessions WHERE profile_id = ? AND rowid < "
        "coalesce((SELECT rowid FROM sessions WHERE id = ?), 4611686018427387904))",
        (session.profile_id, session.id),
    ).fetchone()
    return bool(row[0])
