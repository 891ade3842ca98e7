"""The loyalty ledger: append-only entries, each chained by a hash to the customer's previous
entry in the same program."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from refcamp.clock import iso
from refcamp.models import LedgerEntry
from refcamp.store.queries.rows import _time, loader

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def insert_entry(conn: Connection, entry: LedgerEntry) -> int:
    """Append an entry to the ledger, chained to the customer's previous entry in the program;
    returns its integer id."""
    values = {
        "transaction_uuid": entry.transaction_uuid,
        "program_id": entry.program_id,
        "profile_id": entry.profile_id,
        "session_id": entry.session_id,
        "campaign_id": entry.campaign_id,
        "rule_index": entry.rule_index,
        "rule_name": entry.rule_name,
        "type": entry.type,
        "amount": entry.amount,
        "name": entry.name,
        "start_date": iso(entry.start_date),
        "expiry_date": iso(entry.expiry_date),
        "reverses": entry.reverses,
        "created": iso(entry.created),
        "item_position": entry.item_position,
        "item_sub_position": entry.item_sub_position,
    }
    previous = conn.execute(
        "SELECT chain FROM ledger WHERE profile_id = ? AND program_id = ? ORDER BY id DESC LIMIT 1",
        (entry.profile_id, entry.program_id),
    ).fetchone()
    values["chain"] = chain_hash(previous[0] if previous else "", values)
    cursor = conn.execute(
        "INSERT INTO ledger (transaction_uuid, program_id, profile_id, session_id, campaign_id, "
        "rule_index, rule_name, type, amount, name, start_date, expiry_date, reverses, created, "
        "item_position, item_sub_position, chain) VALUES (:transaction_uuid, :program_id, "
        ":profile_id, :session_id, :campaign_id, :rule_index, :rule_name, :type, :amount, :name, "
        ":start_date, :expiry_date, :reverses, :created, :item_position, :item_sub_position, "
        ":chain)",
        values,
    )
    return cursor.lastrowid or 0


# What a ledger entry's chain hash covers: every column a balance or a rollback reads.
CHAINED = (
    "transaction_uuid",
    "program_id",
    "profile_id",
    "session_id",
    "campaign_id",
    "rule_index",
    "rule_name",
    "type",
    "amount",
    "name",
    "start_date",
    "expiry_date",
    "reverses",
    "created",
)


def chain_hash(previous: str, row: Mapping[str, Any] | sqlite3.Row) -> str:
    """The hash of a ledger row chained to `previous` (the hash of the entry before it for the
    same customer and program, "" for the first): editing or deleting an entry breaks every
    hash after it. Tamper-evident against hand edits, not a signature: whoever recomputes the
    hashes can forge them."""
    import hashlib

    # ASCII JSON: the same bytes on every Python, whatever characters a reason holds.
    values = [previous, *(row[column] for column in CHAINED)]
    item = _item(row)
    if item != (None, None):  # an item's entry (m010): entries made before keep their hashes
        values += item
    text = _chain_json(values)
    return hashlib.sha256(text.encode()).hexdigest()


def _item(row: Mapping[str, Any] | sqlite3.Row) -> tuple[Any, Any]:
    """An entry's cart item position and sub-position (None, None before m010 added them)."""
    try:
        return row["item_position"], row["item_sub_position"]
    except (KeyError, IndexError):
        return None, None


_chain_json = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _entries(rows: Any) -> list[LedgerEntry]:
    return [_entry(row) for row in rows]


@loader("ledger entry", "transaction_uuid")
def _entry(row: sqlite3.Row) -> LedgerEntry:
    if row["type"] not in ("addition", "subtraction") or not isinstance(row["amount"], int):
        raise ValueError(f"type {row['type']!r}, amount {row['amount']!r}")
    return LedgerEntry(
        transaction_uuid=row["transaction_uuid"],
        program_id=row["program_id"],
        profile_id=row["profile_id"],
        type=row["type"],
        amount=row["amount"],
        name=row["name"],
        created=_time(row["created"]),
        start_date=_time(row["start_date"]),
        expiry_date=_time(row["expiry_date"]),
        session_id=row["session_id"],
        campaign_id=row["campaign_id"],
        rule_index=row["rule_index"],
        rule_name=row["rule_name"],
        reverses=row["reverses"],
        talon_id=row["id"],
        item_position=row["item_position"],
        item_sub_position=row["item_sub_position"],
    )


def ledger(conn: Connection, profile_id: str, program_id: str | None = None) -> list[LedgerEntry]:
    return _entries(
        conn.execute(
            "SELECT * FROM ledger WHERE profile_id = ?1 "
            "AND (CAST(?2 AS TEXT) IS NULL OR program_id = ?2) "
            "ORDER BY id",
            (profile_id, program_id),
        )
    )


def session_entries(conn: Connection, session_id: str) -> list[LedgerEntry]:
    """The entries a session booked that no later entry has reversed."""
    return _entries(
        conn.execute(
            "SELECT * FROM ledger AS e WHERE session_id = ? AND reverses IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM ledger AS r WHERE r.reverses = e.transaction_uuid) ORDER BY id",
            (session_id,),
        )
    )
