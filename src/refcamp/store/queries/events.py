"""Custom events, and the cart items a return event brought back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from refcamp.clock import iso
from refcamp.store.queries.rows import dumps

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def insert_event(
    conn: Connection,
    event_type: str,
    profile_id: str | None,
    session_id: str | None,
    attributes: Mapping[str, Any],
    now: datetime,
) -> int:
    cursor = conn.execute(
        "INSERT INTO events (type, profile_id, session_id, attributes, created) "
        "VALUES (?, ?, ?, ?, ?)",
        (event_type, profile_id, session_id, dumps(dict(attributes)), iso(now)),
    )
    return int(cursor.lastrowid or 0)


def returned(conn: Connection, session_id: str) -> dict[int, int]:
    """Per cart item position, how many of it were returned."""
    rows = conn.execute(
        "SELECT position, sum(quantity) FROM returns WHERE session_id = ? GROUP BY position",
        (session_id,),
    )
    return {position: quantity for position, quantity in rows}


def session_returns(conn: Connection, session_id: str) -> list[dict[str, Any]]:
    """A session's returns, oldest first: {id, created, returnedCartItems, eventId}."""
    returns: dict[int, dict[str, Any]] = {}
    rows = conn.execute(
        "SELECT event_id, position, quantity, created FROM returns WHERE session_id = ? "
        "ORDER BY id",
        (session_id,),
    )
    for event_id, position, quantity, created in rows:
        entry = returns.setdefault(
            event_id,
            {"id": event_id, "created": created, "returnedCartItems": [], "eventId": event_id},
        )
        entry["returnedCartItems"].append({"position": position, "quantity": quantity})
    return list(returns.values())


def forget_returns(conn: Connection, session_id: str) -> None:
    conn.execute("DELETE FROM returns WHERE session_id = ?", (session_id,))


def insert_returns(
    conn: Connection,
    event_id: int,
    session_id: str,
    items: Iterable[tuple[int, int]],
    now: datetime,
) -> None:
    conn.executemany(
        "INSERT INTO returns (event_id, session_id, position, quantity, created) "
        "VALUES (?, ?, ?, ?, ?)",
        [(event_id, session_id, position, quantity, iso(now)) for position, quantity in items],
    )
