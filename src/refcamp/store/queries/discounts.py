"""Discounts a session booked; rolled back by marking, never by deleting."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from refcamp.clock import iso
from refcamp.models import Discount, Effect

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def insert_discount(
    conn: Connection,
    effect: Effect,
    session_id: str,
    profile_id: str | None,
    now: datetime,
) -> None:
    props = effect.props
    conn.execute(
        "INSERT INTO discounts (session_id, profile_id, campaign_id, rule_index, rule_name, name, "
        "value, scope, created, item_position, item_sub_position) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            profile_id,
            effect.campaign_id,
            effect.rule_index,
            effect.rule_name,
            props["name"],
            props["value"],
            props.get("scope", "sessionTotal"),
            iso(now),
            props.get("position"),  # setDiscountPerItem's: the item and the unit of it
            props.get("subPosition"),
        ),
    )


def session_discounts(conn: Connection, session_id: str) -> list[Discount]:
    """The discounts a session booked that still stand."""
    rows = conn.execute(
        "SELECT id, session_id, profile_id, campaign_id, rule_index, rule_name, name, value, "
        "scope, item_position, item_sub_position FROM discounts WHERE session_id = ? "
        "AND rolled_back IS NULL ORDER BY id",
        (session_id,),
    )
    return [Discount(*row) for row in rows]


def reduce_discount(conn: Connection, discount: Discount, keep: float, now: datetime) -> None:
    """Roll a booked discount back and, when some of it stays, book what stays anew."""
    roll_back_discount(conn, discount.id, now)
    if keep > 0:
        conn.execute(
            "INSERT INTO discounts (session_id, profile_id, campaign_id, rule_index, rule_name, "
            "name, value, scope, created, item_position, item_sub_position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                discount.session_id,
                discount.profile_id,
                discount.campaign_id,
                discount.rule_index,
                discount.rule_name,
                discount.name,
                keep,
                discount.scope,
                iso(now),
                discount.item_position,
                discount.item_sub_position,
            ),
        )


def roll_back_discount(conn: Connection, discount_id: int, now: datetime) -> None:
    conn.execute("UPDATE discounts SET rolled_back = ? WHERE id = ?", (iso(now), discount_id))
