"""Points: ledger entries (made in one place, book_entry), balances, and manual additions and
deductions. The ledger is append-only: a correction is a new entry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields as fields_of
from dataclasses import replace
from datetime import datetime
from typing import Any

from refcamp import clock, codes
from refcamp.errors import ConflictError, InputError
from refcamp.loyalty import Balance, balance, spendable
from refcamp.loyalty import balances as derive
from refcamp.models import Effect, LedgerEntry, LoyaltyProgram
from refcamp.payloads import check_id
from refcamp.service.lookup import ensure_profile, find_program, get_profile
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import transaction
from refcamp.tables import LARGEST


def book_entry(ws: Workspace, numbered: bool = False, **fields: Any) -> LedgerEntry:
    """Store a new ledger entry made now, with its own transaction UUID: the one place an entry
    is made (earned, deducted, manual or a rollback's). With `numbered`, the entry returned
    carries its row id (its Talon.One id), for a caller that shows it: a copy a replay's
    bookings do without."""
    entry = LedgerEntry(transaction_uuid=codes.transaction_uuid(), created=ws.now, **fields)
    number = queries.insert_entry(ws.conn, entry)
    return replace(entry, talon_id=number) if numbered else entry


def book_like(ws: Workspace, like: LedgerEntry, **changes: Any) -> LedgerEntry:
    """A new entry like `like` (same program, customer, session, rule): a reversal of it, or
    what stays of it after a partial rollback."""
    fields = {f.name: getattr(like, f.name) for f in fields_of(LedgerEntry)}
    for made in ("transaction_uuid", "created", "talon_id"):
        del fields[made]
    return book_entry(ws, **{**fields, "reverses": None, **changes})


def ledger(ws: Workspace, profile_id: str, program: str | None = None) -> list[LedgerEntry]:
    get_profile(ws, profile_id)
    if program is not None:
        program = find_program(ws, program).id
    return queries.ledger(ws.conn, profile_id, program)


def balances(ws: Workspace, profile_id: str, program: str | None = None) -> dict[str, Any]:
    """Per program of the catalog (and any other the ledger names): the Balance as of now."""
    _ = ws.stored  # before a program's number is looked up in it
    catalog = ws.catalog
    if program is not None:
        program = find_program(ws, program).id
    derived = derive(ledger(ws, profile_id, program), ws.now)
    names = [program] if program else list(catalog.programs)
    names += [p for p in derived if p not in names]
    return {p: derived.get(p, Balance()) for p in names}


def with_open_session(
    by_program: dict[str, Balance], effects: Iterable[Effect], profile_id: str, now: datetime
) -> dict[str, Balance]:
    """The balances with what an open session's effects would book once it closes (Talon.One's
    tentative balances: "including additions and deductions inside the currently open
    session"): its additions and deductions for `profile_id` not booked yet. Points that start
    later count as pending."""
    for effect in effects:
        props = effect.props
        if props.get("transactionUUID") or props.get("recipientIntegrationId") != profile_id:
            continue
        held = by_program.setdefault(props["programId"], Balance())
        if effect.effect_type == "deductLoyaltyPoints":
            held.tentative_current -= props["value"]
        elif effect.effect_type == "addLoyaltyPoints":
            start = effect.params.get("start_date")
            if start is not None and start > now:
                held.tentative_pending += props["value"]
            else:
                held.tentative_current += props["value"]
    return by_program


def adjust_points(
    ws: Workspace,
    profile_id: str,
    program: str,
    points: int,
    reason: str,
    deduct: bool = False,
) -> tuple[LedgerEntry, Balance]:
    """A manual addition or deduction; returns the entry and the balance after it.

    An addition follows the program's pending and validity settings. A deduction never takes the
    current balance below zero, nor spends what a deduction booked for a later moment needs
    (ConflictError)."""
    settings = find_program(ws, program)
    check_id(profile_id, "profile id")
    if not 1 <= points <= LARGEST:
        raise InputError.about("points", f"1 to {LARGEST}, got {points}")
    if not reason.strip():
        raise InputError.about("reason", "must not be empty")
    with transaction(ws.conn):
        if deduct:
            get_profile(ws, profile_id)
            _refuse_overdraft(ws, profile_id, settings.id, points)
            start, expiry = ws.now, None
        else:
            ensure_profile(ws, profile_id)
            start, expiry = _validity(settings, ws.now)
        entry = book_entry(
            ws,
            numbered=True,
            program_id=settings.id,
            profile_id=profile_id,
            type="subtraction" if deduct else "addition",
            amount=points,
            name=reason,
            start_date=start,
            expiry_date=expiry,
        )
        after = balance(queries.ledger(ws.conn, profile_id, settings.id), ws.now)
    return entry, after


def _refuse_overdraft(ws: Workspace, profile_id: str, program: str, points: int) -> None:
    """ConflictError when deducting `points` now would spend what is not there, or what a
    deduction or rollback booked for a later moment needs (checked against every committed
    entry, inside the write transaction)."""
    entries = queries.ledger(ws.conn, profile_id, program)
    available = spendable(entries, ws.now)
    if points <= available:
        return
    current = balance(entries, ws.now).current
    later = (
        f" (a later deduction or rollback needs {current - available} of them: "
        f"at most {available} now)"
        if available < current
        else ""
    )
    raise ConflictError(
        f"{profile_id} has {current} current points in {program}; cannot deduct {points}{later}"
    )


def _validity(settings: LoyaltyProgram, now: datetime) -> tuple[datetime, datetime | None]:
    """When points added now become active and when they expire, by the program's settings."""
    start = now if settings.pending == "immediate" else clock.add_duration(now, settings.pending)
    if settings.validity == "unlimited":
        return start, None
    return start, clock.add_duration(start, settings.validity)
