"""Coupon codes: creating or importing them, listing, reserving them for customers."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from refcamp import clock, codes
from refcamp.errors import ConflictError, InputError
from refcamp.models import CodeSettings, Coupon, Profile
from refcamp.payloads import check_id
from refcamp.service.campaign_states import require_feature
from refcamp.service.lookup import ensure_profile, find_campaign, get_coupon, get_profile, page_of
from refcamp.service.response import Views, customer_views
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import snapshot, transaction
from refcamp.tables import LARGEST


def create_coupons(
    ws: Workspace,
    campaign_id: str,
    code: str | None = None,
    count: int = 1,
    recipient: str | None = None,
    usage_limit: int | None = None,
    starts: datetime | None = None,
    expires: datetime | None = None,
) -> list[Coupon]:
    """Create `count` coupons from the campaign's [campaign.coupons], or import one `code`."""
    campaign = find_campaign(ws.catalog, campaign_id, ws.talon_ids())
    require_feature(campaign, "coupons", "coupons")
    if code is not None:
        check_id(code, "code")
        if count != 1:
            raise InputError("a code and a count contradict each other; give one")
    if not 1 <= count <= 100_000:
        raise InputError.about("count", f"must be 1 to 100000, got {count}")
    if recipient is not None:
        check_id(recipient, "recipient")
    if usage_limit is not None and not 0 <= usage_limit <= LARGEST:
        raise InputError.about("usage limit", f"0 (unlimited) to {LARGEST}, got {usage_limit}")
    if starts and expires and expires <= starts:
        raise InputError("the expiry must be after the start")
    settings = campaign.coupons
    if code is None and count > codes.space(settings.pattern, settings.characters):
        raise InputError.about(
            "count",
            f"pattern {settings.pattern!r} can make only "
            f"{codes.space(settings.pattern, settings.characters):,} codes, not {count:,}",
        )
    if expires is None and settings.valid_for and settings.valid_for != "unlimited":
        expires = clock.add_duration(starts or ws.now, settings.valid_for)
    with transaction(ws.conn):
        queries.see_campaigns(ws.conn, ws.catalog, ws.now)
        if code is not None and queries.exists(ws.conn, "coupons", "code", code):
            raise ConflictError(f"coupon code {code!r} already exists")
        if recipient is not None:
            ensure_profile(ws, recipient)
        limit = settings.usage_limit if usage_limit is None else usage_limit
        made = [code] if code is not None else _draw(ws, settings, count)
        return [
            _store(ws, Coupon(value, campaign.id, recipient, limit, 0, starts, expires, ws.now))
            for value in made
        ]


def _draw(ws: Workspace, settings: CodeSettings, count: int) -> list[str]:
    """`count` codes from the campaign's pattern, free in the state file and among themselves."""
    drawn: dict[str, None] = {}  # in the order drawn
    for _ in range(count):
        code = ws.codes.generate(
            settings.pattern,
            settings.characters,
            lambda c: c in drawn or queries.exists(ws.conn, "coupons", "code", c),
        )
        drawn[code] = None
    return list(drawn)


def _store(ws: Workspace, coupon: Coupon) -> Coupon:
    return replace(coupon, talon_id=queries.insert_coupon(ws.conn, coupon, None))


def coupons(
    ws: Workspace,
    campaign: str | None = None,
    recipient: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Coupon], int]:
    """A page of coupon codes and how many there are in all."""
    page = queries.list_coupons(ws.stored, campaign, recipient, limit, offset)

    def count() -> int:
        return queries.count_coupons(ws.stored, campaign, recipient)

    return page_of(page, limit, offset, count)


def reserve_coupon(
    ws: Workspace, code: str, customers: tuple[str, ...]
) -> tuple[Coupon, dict[str, bool]]:
    """createCouponReservation (POST /v1/coupon_reservations/{code}), `coupon reserve`: a soft
    reservation of the coupon for each customer ("This endpoint creates a **soft** reservation.
    _Any_ customer can use a reserved coupon code"); it shows in their inventory. A coupon made
    for a recipient (a hard reservation) is theirs alone: reserving it for anyone else is a
    conflict ("coupons created for a specific user are not reservable"). Returns the coupon and,
    per customer, whether their reservation is new."""
    if not customers:
        raise InputError.about("profile", "give at least one customer")
    for customer in customers:
        check_id(customer, "profile")
    with transaction(ws.conn):
        coupon = get_coupon(ws, code)
        owner = coupon.recipient_id
        others = [c for c in customers if owner is not None and c != owner]
        if others:
            raise ConflictError(
                f"coupon {code} was made for {owner} (a hard reservation) and cannot be reserved "
                f"for {others[0]}"
            )
        new: dict[str, bool] = {}
        for customer in dict.fromkeys(customers):
            ensure_profile(ws, customer)
            new[customer] = owner is None and queries.reserve_coupon(
                ws.conn, code, customer, ws.now
            )
    return coupon, new


def unreserve_coupon(ws: Workspace, code: str, customers: tuple[str, ...]) -> None:
    """deleteCouponReservation (DELETE /v1/coupon_reservations/{code}), `coupon unreserve`:
    "Remove all the coupon reservations from the provided customer profile integration IDs".
    A hard reservation is the coupon itself (made for its recipient) and stays."""
    if not customers:
        raise InputError.about("profile", "give at least one customer")
    for customer in customers:
        check_id(customer, "profile")
    with transaction(ws.conn):
        get_coupon(ws, code)
        for customer in customers:
            queries.unreserve_coupon(ws.conn, code, customer)


def reserved_customers(ws: Workspace, code: str) -> list[tuple[Profile, Views]]:
    """GET /v1/coupon_reservations/customerprofiles/{code}: "all customers that have this coupon
    marked as reserved": its recipient (a hard reservation), then those who reserved it."""
    with snapshot(ws.stored):
        coupon = get_coupon(ws, code)
        found = [] if coupon.recipient_id is None else [coupon.recipient_id]
        found += queries.reserved_for(ws.conn, code)
        return [(get_profile(ws, p), customer_views(ws.conn, p)) for p in dict.fromkeys(found)]
