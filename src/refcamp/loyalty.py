"""Loyalty balances, derived from ledger entries (never stored): Talon.One's currentBalance,
pendingBalance, expiredBalance and spentBalance as of a given time.

Rules of the derivation:
- entries created after `now` do not exist yet (a simulated clock may look into the past), but a
  deduction must not spend what an entry booked for a later moment needs (`spendable`);
- a reversing entry (from a rollback) cancels the entry it reverses: neither counts;
- a subtraction spends the points that were active when it was made, those expiring soonest first,
  so expiry never takes points that were already spent; what no active points cover (a rollback of
  points already spent) is a debt, not lost: Talon.One's negativePoints ("Total amount of negative
  points. This implies that `activePoints` is `0`", LoyaltyBalance). The current balance is then
  0, and later active points settle the debt before they count as current.
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
    # What an open session's effects would add (+) or deduct (-) once it closes: Talon.One's
    # tentativeCurrentBalance and tentativePendingBalance are the balances with them.
    tentative_current: int = 0
    tentative_pending: int = 0
    negative: int = 0  # points owed (a rollback of points already spent); then current is 0

    @property
    def tentative_current_balance(self) -> int:
        return self.current + self.tentative_current

    @property
    def tentative_pending_balance(self) -> int:
        return self.pending + self.tentative_pending


def _active(entry: LedgerEntry, at: datetime) -> bool:
    return entry.start_date <= at and (entry.expiry_date is None or entry.expiry_date > at)


def _soonest_first(entry: LedgerEntry) -> tuple[bool, datetime, datetime]:
    # Points without expiry are spent last; among equals, the oldest first.
    never = entry.expiry_date is None
    return (never, entry.expiry_date or entry.created, entry.created)


def standing(entries: Iterable[LedgerEntry], now: datetime | None = None) -> list[LedgerEntry]:
    """The entries that count at `now` (None: every entry, whenever it was booked for): made by
    then, neither reversing nor reversed."""
    made = [e for e in entries if now is None or e.created <= now]
    reversed_ids = {e.reverses for e in made if e.reverses}
    return [e for e in made if not e.reverses and e.transaction_uuid not in reversed_ids]


def _spend(live: list[LedgerEntry]) -> tuple[dict[str, int], int]:
    """Let each subtraction, in the order they took effect, take the points of the additions
    active at that moment, those expiring soonest first. Returns what is left of each addition
    and the points no active addition covered.

    A subtraction takes effect at its start date: for a deduction that is when it was made; the
    part of a deduction that stays after a return is rebooked with the original's dates, so it
    spends the points the original spent."""
    additions = [e for e in live if e.type == "addition"]
    remaining = {e.transaction_uuid: e.amount for e in additions}
    uncovered = 0
    for entry in sorted((e for e in live if e.type != "addition"), key=_taking_effect):
        need = entry.amount
        candidates = [
            a
            for a in additions
            if remaining[a.transaction_uuid] > 0 and _active(a, entry.start_date)
        ]
        for addition in sorted(candidates, key=_soonest_first):
            take = min(need, remaining[addition.transaction_uuid])
            remaining[addition.transaction_uuid] -= take
            need -= take
            if need == 0:
                break
        uncovered += need
    return remaining, uncovered


def _taking_effect(entry: LedgerEntry) -> datetime:
    return entry.start_date


def balance(entries: Iterable[LedgerEntry], now: datetime) -> Balance:
    """One program's balance as of `now`; `entries` in ledger order."""
    live = standing(entries, now)
    remaining, uncovered = _spend(live)
    result = Balance(spent=sum(e.amount for e in live if e.type != "addition"))
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
    # A debt takes the active points first; what they do not cover stays owed.
    settled = min(uncovered, result.current)
    result.current -= settled
    result.negative = uncovered - settled
    return result


def spendable(entries: list[LedgerEntry], now: datetime) -> int:
    """The most points a deduction made at `now` may take from one program's `entries`.

    Every committed entry counts, whatever moment it was booked for: a simulated clock can book
    "in the past", and a deduction there must not take points that a deduction or rollback
    booked for a later moment already needs (else that one would end up uncovered, the balance
    below zero). So: the largest amount that leaves no more points uncovered than before."""
    live = standing(entries)
    before = _spend(live)[1]
    high = balance(entries, now).current
    if high <= 0:
        return 0

    def fits(points: int) -> bool:
        trial = LedgerEntry("", "", "", "subtraction", points, "", now, now)
        return _spend([*live, trial])[1] == before

    if fits(high):
        return high
    low = 0  # fits(low) holds; fits(high) does not: halve the gap (fewer points never fit worse)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low


def overspent(entries: Iterable[LedgerEntry]) -> int:
    """Points that deductions in one program's `entries` took though no active points covered
    them when they took effect: zero in any ledger refcamp wrote (a deduction is refused rather
    than overspend). A rollback of points already spent may still take the balance below zero:
    here a rolled-back addition counts as if it stood, so only overspending shows."""
    entries = list(entries)
    reversed_ids = {e.reverses for e in entries if e.reverses}
    additions = [e for e in entries if e.type == "addition" and not e.reverses]
    deductions = [
        e
        for e in entries
        if e.type == "subtraction" and not e.reverses and e.transaction_uuid not in reversed_ids
    ]
    return _spend([*additions, *deductions])[1]


def balances(entries: Iterable[LedgerEntry], now: datetime) -> dict[str, Balance]:
    """Per program id, as of `now`."""
    by_program: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        by_program.setdefault(entry.program_id, []).append(entry)
    return {program: balance(group, now) for program, group in by_program.items()}
