"""Loyalty balances, derived from ledger entries (never stored): Talon.One's currentBalance,
pendingBalance, expiredBalance and spentBalance as of a given time.

A reversing entry (from a rollback) cancels the entry it reverses: neither counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from refcamp.models import LedgerEntry


@dataclass
class Balance:
    current: int = 0
    pending: int = 0
    expired: int = 0
    spent: int = 0


def balances(entries: Iterable[LedgerEntry], now: datetime) -> dict[str, Balance]:
    """Per program id, as of `now`."""
    entries = list(entries)
    reversed_ids = {e.reverses for e in entries if e.reverses}
    result: dict[str, Balance] = {}
    for entry in entries:
        balance = result.setdefault(entry.program_id, Balance())
        if entry.reverses or entry.transaction_uuid in reversed_ids:
            continue
        if entry.type == "subtraction":
            balance.current -= entry.amount
            balance.spent += entry.amount
        elif entry.start_date > now:
            balance.pending += entry.amount
        elif entry.expiry_date is not None and entry.expiry_date <= now:
            balance.expired += entry.amount
        else:
            balance.current += entry.amount
    return result
