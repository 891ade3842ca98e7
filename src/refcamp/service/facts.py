"""What the engine may look at for one request, loaded inside its transaction, and running the
rules: evaluate, then book what they planned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refcamp.engine import Facts, evaluate
from refcamp.engine.core import stopped
from refcamp.loyalty import spendable
from refcamp.models import LIMIT_ACTIONS, LedgerEntry, Profile, Session
from refcamp.service.booking import Booking
from refcamp.service.workspace import Workspace
from refcamp.store import queries


def load_facts(
    ws: Workspace,
    events: tuple[str, ...],
    profile: Profile | None,
    session: Session | None = None,
    event_attributes: Mapping[str, Any] | None = None,
) -> Facts:
    """Everything the engine may look at for one request, read inside its transaction."""
    conn, catalog = ws.conn, ws.catalog
    code = session.referral_code if session else None
    referral = queries.get_referral(conn, code) if code else None
    coupon_codes = session.coupon_codes if session else ()
    profile_id = profile.id if profile else None
    # Only the limit counters this request can spend: a campaign that does not run spends
    # nothing, and a code is redeemed only when the session brings one.
    states = ws.campaign_states()
    not_running = stopped(catalog, states, ws.now)
    running = [c for c in catalog.campaigns if c.id not in not_running]
    actions = {
        action
        for action in LIMIT_ACTIONS
        if not (action == "redeemReferral" and code is None)
        and not (action == "redeemCoupon" and not coupon_codes)
    }
    return Facts(
        now=ws.now,
        events=events,
        profile=profile,
        session=session,
        referral=referral,
        campaign_states=states,
        usage=queries.usage(
            conn,
            running,
            actions,
            profile_id,
            referral.advocate_id if referral else None,
            [code, *coupon_codes],
        ),
        audiences=queries.audiences(conn, profile_id)
        if profile_id and ws.reads_audiences()
        else frozenset(),
        event_attributes=event_attributes,
        coupons={c: queries.get_coupon(conn, c) for c in coupon_codes},
        points=spendable_points(ws, profile_id) if profile_id and ws.reads_points() else {},
    )


def spendable_points(ws: Workspace, profile_id: str) -> dict[str, int]:
    """Program id -> what the customer may spend now (every committed entry counts: see
    loyalty.spendable), read inside the request's transaction."""
    by_program: dict[str, list[LedgerEntry]] = {}
    for entry in queries.ledger(ws.conn, profile_id, None):
        by_program.setdefault(entry.program_id, []).append(entry)
    return {program: spendable(entries, ws.now) for program, entries in by_program.items()}


def apply_rules(ws: Workspace, facts: Facts, booking: Booking) -> None:
    evaluation = evaluate(ws.catalog, facts)
    booking.response.evaluation = evaluation
    booking.carry_out(evaluation.effects)
