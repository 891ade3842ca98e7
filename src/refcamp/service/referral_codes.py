"""Referral codes an advocate is given by hand or over the API (one or many advocates), and
listing them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from refcamp import clock, codes
from refcamp.errors import ConflictError, InputError
from refcamp.models import Referral
from refcamp.payloads import ReferralInput, check_id
from refcamp.service.campaign_states import require_feature
from refcamp.service.lookup import ensure_profile, find_campaign, page_of
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import transaction
from refcamp.tables import LARGEST


def referrals(
    ws: Workspace,
    advocate: str | None = None,
    campaign: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Referral], int]:
    """A page of referral codes and how many there are in all."""
    page = queries.list_referrals(ws.stored, advocate, campaign, limit, offset)

    def count() -> int:
        return queries.count_referrals(ws.stored, advocate, campaign)

    return page_of(page, limit, offset, count)


def create_referral(
    ws: Workspace,
    campaign_id: str,
    advocate: str,
    code: str | None = None,
    friend: str | None = None,
    usage_limit: int | None = None,
    starts: datetime | None = None,
    expires: datetime | None = None,
    attributes: Mapping[str, Any] | None = None,
    pattern: str | None = None,
    characters: str | None = None,
) -> Referral:
    """Create (or import, with `code`) a referral code for an advocate, like Talon.One's
    "create referral code for an advocate"; the advocate's profile is created if needed."""
    campaign = find_campaign(ws.catalog, campaign_id, ws.talon_ids())
    require_feature(campaign, "referrals", "referral codes")
    check_id(advocate, "advocate")
    if friend is not None:
        check_id(friend, "friend")
    if code is not None:
        check_id(code, "code")
    if usage_limit is not None and not 0 <= usage_limit <= LARGEST:
        raise InputError.about("usage limit", f"0 (unlimited) to {LARGEST}, got {usage_limit}")
    if starts and expires and expires <= starts:
        raise InputError("the expiry must be after the start")
    settings = campaign.referrals
    if expires is None and settings.valid_for and settings.valid_for != "unlimited":
        expires = clock.add_duration(starts or ws.now, settings.valid_for)
    with transaction(ws.conn):
        conn = ws.conn
        queries.see_campaigns(conn, ws.catalog, ws.now)
        if code is None:
            code = ws.codes.generate(
                pattern or settings.pattern,
                characters or settings.characters,
                lambda c: queries.exists(conn, "referrals", "code", c),
            )
        elif queries.exists(conn, "referrals", "code", code):
            raise ConflictError(f"referral code {code!r} already exists")
        ensure_profile(ws, advocate)
        referral = Referral(
            code=code,
            campaign_id=campaign.id,
            advocate_id=advocate,
            friend_id=friend,
            usage_limit=settings.usage_limit if usage_limit is None else usage_limit,
            usage_counter=0,
            start_date=starts,
            expiry_date=expires,
            created=ws.now,
            attributes=dict(attributes or {}),
        )
        referral = replace(referral, talon_id=queries.insert_referral(conn, referral, None))
    return referral


def create_referrals(ws: Workspace, request: ReferralInput) -> list[Referral]:
    """POST /v1/referrals_for_multiple_advocates: one code per advocate, all or none, drawn
    from the request's `referralPattern` and `validCharacters` where given, else the
    campaign's."""
    settings = find_campaign(ws.catalog, request.campaign_id, ws.talon_ids()).referrals
    pattern = request.pattern or settings.pattern
    characters = request.characters or settings.characters
    if codes.space(pattern, characters) < len(set(request.advocates)):
        field = "referralPattern" if request.pattern else "validCharacters"
        raise InputError.about(
            field,
            f"pattern {pattern!r} with {len(set(characters))} characters makes only "
            f"{codes.space(pattern, characters):,} codes, fewer than the advocates",
        )
    with transaction(ws.conn):
        return [
            create_referral(
                ws,
                request.campaign_id,
                advocate,
                usage_limit=request.usage_limit,
                starts=request.starts,
                expires=request.expires,
                attributes=request.attributes,
                pattern=pattern,
                characters=characters,
            )
            for advocate in request.advocates
        ]
