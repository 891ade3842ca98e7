"""Custom events (POST /v2/events): recorded, then the rules that react to them run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from refcamp import clock
from refcamp.errors import ConflictError, InputError
from refcamp.payloads import check_id
from refcamp.service.booking import Booking
from refcamp.service.facts import apply_rules, load_facts
from refcamp.service.lookup import ensure_profile, get_session
from refcamp.service.response import Response, attach_views
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import transaction


def track_event(
    ws: Workspace,
    event_type: str,
    profile_id: str | None,
    session_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    response_content: tuple[str, ...] = (),
) -> Response:
    """POST /v2/events: a custom event for a customer (and optionally one of their sessions).

    Rules with `{ event = "TYPE" }` react to it; points it earns are booked at once."""
    if (
        not event_type
        or len(event_type) > 255
        or not event_type.replace("_", "").replace("-", "").replace(".", "").isalnum()
    ):
        raise InputError(
            f"event type {event_type!r}: use letters, digits, '_', '-' and '.' (at most 255)"
        )
    if event_type.startswith("talon_"):
        raise InputError(
            f"event type {event_type!r}: talon_ events are built in; pick another name"
        )
    if profile_id is not None:  # None: an anonymous event, as Talon.One allows
        check_id(profile_id, "profileId")
    attributes = dict(attributes or {})
    _ = ws.catalog  # campaigns are validated before the state file is touched
    response = Response(response_content=response_content, dry_run=dry_run)
    with transaction(ws.conn, commit=not dry_run):
        profile = ensure_profile(ws, profile_id) if profile_id is not None else None
        session = None
        if session_id is not None:
            session = get_session(ws, session_id)
            if profile_id is not None and session.profile_id not in (None, profile_id):
                raise ConflictError(
                    f"session {session_id} belongs to {session.profile_id}, not {profile_id}"
                )
        event_id = queries.insert_event(
            ws.conn, event_type, profile_id, session_id, attributes, ws.now
        )
        response.profile = profile
        response.events = (event_type,)
        response.event = {
            "id": event_id,
            "type": event_type,
            "profileId": profile_id,
            "sessionId": session_id,
            "attributes": attributes,
            "created": clock.iso(ws.now),
        }
        # An event is not a checkout: the session's codes are not redeemed by it.
        facts_session = replace(session, referral_code=None, coupon_codes=()) if session else None
        facts = load_facts(ws, response.events, profile, facts_session, attributes)
        # Points an event earns are the customer's, not the session's: cancelling the session
        # does not take them back.
        apply_rules(ws, facts, Booking(ws, None, profile_id, True, response))
        attach_views(ws, response)
    return response
