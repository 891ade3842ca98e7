"""Session requests: update (open, close, cancel), reopen, return items, and reading one back.
A close books what the rules planned; a cancel of a closed session or a reopen rolls it back."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from refcamp import clock, codes
from refcamp.errors import ConflictError, InputError
from refcamp.models import Effect, Session
from refcamp.payloads import UNSET, ReturnInput, SessionInput, check_id
from refcamp.service.booking import Booking
from refcamp.service.facts import apply_rules, load_facts
from refcamp.service.lookup import ensure_profile, get_session
from refcamp.service.response import Response, Views, attach_views
from refcamp.service.rollback import roll_back, roll_back_units
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import snapshot, transaction


def _transition(before: str | None, after: str) -> tuple[str, ...]:
    """The events a session state change fires (see the reference's transition table)."""
    if before is None:
        return {
            "open": ("talon_session_created",),
            "closed": ("talon_session_created", "talon_session_closed"),
        }[after]
    if before == "open":
        return {
            "open": ("talon_session_updated",),
            "closed": ("talon_session_closed",),
            "cancelled": ("talon_session_cancelled",),
        }[after]
    if before == "closed" and after == "cancelled":
        return ("talon_session_revoked",)
    return ()


def update_session(
    ws: Workspace,
    session_id: str | None,
    request: SessionInput,
    dry_run: bool = False,
    invent_profile: bool = False,
) -> Response:
    """PUT /v2/customer_sessions/{id}. A new session without a `profileId` is anonymous, as one
    with `profileId: ""` (NewCustomerSessionV2.profileId is optional; updateCustomerSessionV2:
    "you can create an anonymous session"); `invent_profile` (the command line's convenience)
    makes a customer up for it instead."""
    _ = ws.catalog  # campaigns are validated before the state file is touched
    response = Response(
        notes=list(request.notes), response_content=request.response_content, dry_run=dry_run
    )
    with transaction(ws.conn, commit=not dry_run):
        if session_id is None:
            session_id = _new_id(ws, "sessions")
            response.generated["session"] = session_id
        check_id(session_id, "session id")
        stored = queries.get_session(ws.conn, session_id)
        before = stored.state if stored else None
        after = (before or "open") if request.state is UNSET else request.state
        if stored is None and after == "cancelled":
            # NewCustomerSessionV2.state: "Sessions can be created as `open` or `closed`".
            raise InputError.about(
                "customerSession.state",
                f"session {session_id} does not exist: a new session is created open or closed, "
                "never cancelled (there is nothing to cancel)",
            )
        if _nothing_to_do(stored, after, response):
            attach_views(ws, response)
            return response
        profile_id = request.profile_id
        if profile_id is UNSET and stored is not None:
            profile_id = stored.profile_id
        elif profile_id is UNSET and invent_profile:  # the command line makes a customer up
            profile_id = response.generated["profile"] = _new_id(ws, "profiles")
        elif profile_id is UNSET:  # Talon.One's API: no customer named, an anonymous session
            profile_id = None
        profile = ensure_profile(ws, profile_id) if profile_id is not None else None
        session = _updated(ws, session_id, stored, request, profile_id, after)
        queries.save_session(ws.conn, session)
        session_for_rules = session
        if after == "cancelled":
            if before == "closed":  # revocation: roll back what the session booked
                roll_back(ws, session, response)
            # A cancelled session redeems nothing, so its codes get no verdict.
            session_for_rules = replace(session, referral_code=None, coupon_codes=())
        response.session = session
        response.profile = profile
        response.events = _transition(before, after)
        facts = load_facts(ws, response.events, profile, session_for_rules)
        final = after == "closed" and before != "closed"
        apply_rules(ws, facts, Booking(ws, session_id, profile_id, final, response))
        queries.save_session_effects(ws.conn, session_id, response.effects)
        attach_views(ws, response)
    return response


def _new_id(ws: Workspace, table: str) -> str:
    """An id for a session or profile the request did not name, free in `table`."""
    conn = ws.conn
    return ws.codes.generate(
        codes.ID_PATTERN, codes.ID_CHARACTERS, lambda i: queries.exists(conn, table, "id", i)
    )


def _nothing_to_do(stored: Session | None, after: str, response: Response) -> bool:
    """True when the session already is where the request would take it (the response says
    so); ConflictError when it cannot go there."""
    before = stored.state if stored else None
    if stored is None or before == "open":
        return False
    session_id = stored.id
    if before == "cancelled":
        if after == "cancelled":
            response.session = stored
            response.notes.append(f"session {session_id} is already cancelled: nothing to do")
            return True
        verb = "closed" if after == "closed" else "reopened"
        raise ConflictError(f"session {session_id} was cancelled; it cannot be {verb}")
    if after == "closed":
        response.session = stored
        response.notes.append(f"session {session_id} is already closed: nothing was awarded again")
        return True
    if after == "open":
        raise ConflictError(
            f"session {session_id} is closed; reopen it (refcamp session reopen, or PUT "
            f"/v2/customer_sessions/{session_id}/reopen) or cancel it to roll back what it "
            f"booked"
        )
    return False


def _updated(
    ws: Workspace,
    session_id: str,
    stored: Session | None,
    request: SessionInput,
    profile_id: str | None,
    state: str,
) -> Session:
    """The session as the request leaves it: what the request gives, else what was stored."""

    def keep(value: Any, old: Any, default: Any) -> Any:
        if value is not UNSET:
            return value
        return old if stored is not None else default

    session = Session(
        id=session_id,
        profile_id=profile_id,
        state=state,
        cart_items=keep(request.cart_items, stored and stored.cart_items, ()),
        coupon_codes=keep(request.coupon_codes, stored and stored.coupon_codes, ()),
        referral_code=keep(request.referral_code, stored and stored.referral_code, None),
        attributes={**(stored.attributes if stored else {}), **request.attributes},
        additional_costs=keep(request.additional_costs, stored and stored.additional_costs, {}),
        identifiers=keep(request.identifiers, stored and stored.identifiers, ()),
        created=stored.created if stored else ws.now,
        updated=ws.now,
    )
    if not math.isfinite(session.total):
        raise InputError(f"session {session_id}: the cart total is too large to compute")
    return session


def cancel_session(ws: Workspace, session_id: str, dry_run: bool = False) -> Response:
    """Cancel a session: an open one books nothing; a closed one is revoked, rolling back the
    points and code uses it booked. Cancelling twice changes nothing."""
    get_session(ws, session_id)
    return update_session(ws, session_id, SessionInput(state="cancelled"), dry_run=dry_run)


def reopen_session(ws: Workspace, session_id: str, dry_run: bool = False) -> Response:
    """PUT /v2/customer_sessions/{id}/reopen: a closed session is open again, and what its close
    booked (code uses, discounts, pending points) is rolled back; points already active stay
    (reopenCustomerSession: "Any not pending loyalty points" are left the way they were).
    Closing it again runs the rules anew, and an effect adds only the points beyond those that
    stayed (see AddLoyaltyPoints.book)."""
    check_id(session_id, "customerSessionId")
    response = Response(dry_run=dry_run)
    with transaction(ws.conn, commit=not dry_run):
        session = get_session(ws, session_id)
        if session.state != "closed":
            raise ConflictError(
                f"session {session_id} is {session.state}; only a closed session can be reopened"
            )
        roll_back(ws, session, response, keep_active=True)
        # What stood after returns is rolled back too: the cart is whole again, to be edited
        # (the returned items taken out) before the session closes anew.
        queries.forget_returns(ws.conn, session_id)
        session = replace(session, state="open", updated=ws.now)
        queries.save_session(ws.conn, session)
        queries.save_session_effects(ws.conn, session_id, response.effects)
        response.session = session
        response.profile = queries.get_profile(ws.conn, session.profile_id or "")
        response.events = ("talon_session_reopened",)
        attach_views(ws, response)
    return response


def return_items(
    ws: Workspace, session_id: str, request: ReturnInput, dry_run: bool = False
) -> Response:
    """POST /v2/customer_sessions/{id}/returns: items of a closed session come back. What the
    returned units earned (per-item points, per-item discounts) is rolled back, and only that:
    the units of an item come back in order (sub-positions from the first not yet returned).
    The session is then partially returned."""
    check_id(session_id, "customerSessionId")
    response = Response(response_content=request.response_content, dry_run=dry_run)
    with transaction(ws.conn, commit=not dry_run):
        conn = ws.conn
        session = get_session(ws, session_id)
        if session.state != "closed":
            raise ConflictError(
                f"session {session_id} is {session.state}; only a closed session's items can be "
                f"returned"
            )
        already = queries.returned(conn, session_id)
        items = {i.position: i for i in session.cart_items}
        taken: dict[int, int] = {}
        for index, (position, quantity) in enumerate(request.items):
            where = f"return.returnedCartItems[{index}]"
            item = items.get(position)
            if item is None:
                raise InputError(
                    f"{where}.position: session {session_id} has no cart item at position "
                    f"{position} (positions: {', '.join(map(str, items)) or 'none'})"
                )
            left = item.quantity - already.get(position, 0) - taken.get(position, 0)
            wanted = left if quantity is None else quantity
            if left < 1 or not 1 <= wanted <= left:
                raise InputError(
                    f"{where}.quantity: {left} of {item.sku!r} left to return, asked {wanted}"
                )
            taken[position] = taken.get(position, 0) + wanted
        units = {
            (position, sub)
            for position, quantity in taken.items()
            for sub in range(already.get(position, 0), already.get(position, 0) + quantity)
        }
        profile_id = session.profile_id
        event_id = queries.insert_event(
            conn, "talon_session_returned", profile_id, session_id, {}, ws.now
        )
        queries.insert_returns(conn, event_id, session_id, taken.items(), ws.now)
        # Code uses and what the session earned as a whole stay, even when everything came
        # back: the friend was referred, the coupon used (a reopen or a cancel gives them back).
        roll_back_units(ws, session, response, units)
        queries.save_session_effects(conn, session_id, response.effects)
        response.session = session
        response.profile = queries.get_profile(conn, profile_id) if profile_id else None
        response.events = ("talon_session_returned",)
        response.new_return = {
            "id": event_id,
            "created": clock.iso(ws.now),
            "returnedCartItems": [{"position": p, "quantity": q} for p, q in taken.items()],
            "eventId": event_id,
        }
        attach_views(ws, response)
    return response


def session_view(ws: Workspace, session_id: str) -> tuple[Session, Views, list[Effect]]:
    """A session, what the response shows of it beyond the model (whether it is its customer's
    first, what was returned), and its latest evaluation's effects."""
    conn = ws.stored
    with snapshot(conn):
        session = get_session(ws, session_id)
        views = Views(
            first_session=queries.first_session(conn, session),
            returned_items=queries.returned(conn, session_id),
        )
        return session, views, queries.session_effects(conn, session_id)
