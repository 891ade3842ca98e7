"""Loyalty balances, derived from ledger entries (never stored): Talon.One's currentBalance,
pendingBalance, expiredBalance and spentBalance as of a given time.

Rules of the derivation:
- entries created after `now` do not exist yet (a simulated clock may look into the past);
- a reversing entry (from a rollback) cancels the entry it reverses: neither counts;
- a subtraction spends the points that were active when it was made, those expiring soonest first,
  so expiry never takes points that were already spent; what no active points cover (a rollback of
  points already spent) takes the current balance below zero rather than vanish.
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


def _active(entry: LedgerEntry, at: datetime) -> bool:
    return entry.start_date <= at and (entry.expiry_date is None or entry.expiry_date > at)


def _soonest_first(entry: LedgerEntry) -> tuple[bool, datetime, datetime]:
    # Points without expiry are spent last; among equals, the oldest first.
    never = entry.expiry_date is None
    return (never, entry.expiry_date or entry.created, entry.created)


def standing(entries: Iterable[LedgerEntry], now: datetime) -> list[LedgerEntry]:
    """The entries that count at `now`: made by then, neither reversing nor reversed."""
    made = [e for e in entries if e.created <= now]
    reversed_ids = {e.reverses for e in made if e.reverses}
    return [e for e in made if not e.reverses and e.transaction_uuid not in reversed_ids]


def balance(entries: Iterable[LedgerEntry], now: datetime) -> Balance:
    """One program's balance as of `now`; `entries` in ledger order."""
    live = standing(entries, now)
    remaining: dict[str, int] = {}
    result = Balance()
    uncovered = 0
    for entry in live:
        if entry.type == "addition":
            remaining[entry.transaction_uuid] = entry.amount
            continue
        result.spent += entry.amount
        need = entry.amount
        candidates = [
            e
            for e in live
            if e.type == "addition"
            and e.transaction_uuid in remaining
            and remaining[e.transaction_uuid] > 0
            and _active(e, entry.created)
        ]
        for addition in sorted(candidates, key=_soonest_first):
            take = min(need, remaining[addition.transaction_uuid])
            remaining[addition.transaction_uuid] -= take
            need -= take
            if need == 0:
                break
        uncovered += need
    for entry in live:
        if entry.type != "addition":
            continue
        left = remaining[entry.transaction_uuid]
        if entry.start_date > now:
            result.pending += left
        elif entry.expiry_date is not None and entry.expiry_date <= now:
            result.expired += left
        else:
            result.current += left
    result.current -= uncovered
    return result


def balances(entries: Iterable[LedgerEntry], now: datetime) -> dict[str, Balance]:
    """Per program id, as of `now`."""
    by_program: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        by_program.setdefault(entry.program_id, []).append(entry)
    return {program: balance(group, now) for program, group in by_program.items()}
