"""Get-or-raise: the records and catalog entries a request names, found or refused with
NotFoundError (and a "did you mean" when something close exists); and ensure_profile, the one
get-or-create. Reads through the workspace's connection, inside whatever transaction is open."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from refcamp.errors import NotFoundError
from refcamp.models import (
    Campaign,
    Catalog,
    Coupon,
    LoyaltyProgram,
    Profile,
    Referral,
    Session,
    TalonIds,
)
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.tables import unknown_hint

T = TypeVar("T")


def found(value: T | None, what: str, key: str, near: str | None = None) -> T:
    """`value`, or NotFoundError "no WHAT 'KEY'" with the close one a person probably meant."""
    if value is None:
        hint = f" (did you mean {near}?)" if near not in (None, key) else ""
        raise NotFoundError(f"no {what} {key!r}{hint}")
    return value


def _stored(
    ws: Workspace, get: Callable, what: str, table: str, column: str, key: str
) -> Profile | Session | Coupon | Referral:
    conn = ws.stored
    value = get(conn, key)
    near = None if value is not None else queries.same_but_case(conn, table, column, key)
    return found(value, what, key, near)


def get_profile(ws: Workspace, profile_id: str) -> Profile:
    return _stored(ws, queries.get_profile, "customer profile", "profiles", "id", profile_id)


def get_session(ws: Workspace, session_id: str) -> Session:
    return _stored(ws, queries.get_session, "customer session", "sessions", "id", session_id)


def get_coupon(ws: Workspace, code: str) -> Coupon:
    return _stored(ws, queries.get_coupon, "coupon code", "coupons", "code", code)


def get_referral(ws: Workspace, code: str) -> Referral:
    return _stored(ws, queries.get_referral, "referral code", "referrals", "code", code)


def page_of(
    page: list[T], limit: int | None, offset: int, count: Callable[[], int]
) -> tuple[list[T], int]:
    """A listing's page and how many there are in all: counted only when the page does not
    already say (a whole list from `offset` needs no count)."""
    if limit is None and (page or not offset):
        return page, offset + len(page)
    return page, count()


def _number(key: str) -> int | None:
    """The Talon.One integer id people may give instead of a readable id."""
    return int(key) if key.isascii() and key.isdigit() else None


def _named(value: T | None, missing: str, key: str, known: Iterable[str]) -> T:
    """`value`, or NotFoundError `missing` with the close name or the names known."""
    if value is None:
        raise NotFoundError(f"{missing}{unknown_hint(key, known)}")
    return value


def find_campaign(catalog: Catalog, campaign_id: str, ids: TalonIds | None = None) -> Campaign:
    """A campaign by its readable id or, given `ids`, by its Talon.One integer id."""
    campaign = catalog.campaign(campaign_id)
    number = _number(campaign_id)
    if campaign is None and ids is not None and number is not None:
        campaign = catalog.campaign(ids.key("campaign", number) or "")
    known = [c.id for c in catalog.campaigns]
    missing = f"no campaign {campaign_id!r} in {catalog.directory}"
    return _named(campaign, missing, campaign_id, known)


def find_program(ws: Workspace, program: str) -> LoyaltyProgram:
    """A loyalty program by its readable id or its Talon.One integer id."""
    programs = ws.catalog.programs
    number = _number(program)
    if program not in programs and number is not None:
        program = ws.talon_ids().key("program", number) or program
    return _named(programs.get(program), f"no loyalty program {program!r}", program, programs)


def ensure_profile(ws: Workspace, profile_id: str) -> Profile:
    """The profile, created (no registration event) when it does not exist yet: a request that
    gives a customer something makes them, as in Talon.One. Who was made is kept in
    ws.new_customers, so a command can say so (a mistyped id makes a customer)."""
    profile = queries.get_profile(ws.conn, profile_id)
    if profile is None:
        profile = Profile(profile_id, {}, ws.now, ws.now)
        queries.save_profile(ws.conn, profile)
        ws.new_customers.append(profile_id)
    return profile
