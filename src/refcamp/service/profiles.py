"""Customer profile requests: updates (one or many), audiences, erasing personal data, and the
inventory of everything refcamp holds of one customer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from refcamp import clock
from refcamp.engine import Evaluation
from refcamp.engine.effects import CreateCode
from refcamp.errors import NotFoundError
from refcamp.models import Catalog, Coupon, Profile, Referral, Session
from refcamp.payloads import ProfileInput, check_id
from refcamp.service import request_log
from refcamp.service.booking import Booking
from refcamp.service.facts import apply_rules, load_facts
from refcamp.service.lookup import ensure_profile, get_profile
from refcamp.service.points import balances
from refcamp.service.request_log import Erased
from refcamp.service.response import Response, Views, attach_views, customer_views
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import snapshot, transaction


def update_profile(
    ws: Workspace,
    profile_id: str,
    request: ProfileInput,
    run_rules: bool = True,
    dry_run: bool = False,
) -> Response:
    """PUT /v2/customer_profiles/{id}: a new id fires talon_profile_created, a known one
    talon_profile_updated (only when the rule engine runs)."""
    check_id(profile_id, "profile id")
    catalog = ws.catalog if run_rules else None
    response = Response(
        notes=list(request.notes), response_content=request.response_content, dry_run=dry_run
    )
    with transaction(ws.conn, commit=not dry_run):
        existing = queries.get_profile(ws.conn, profile_id)
        profile = Profile(
            profile_id,
            {**(existing.attributes if existing else {}), **request.attributes},
            existing.created if existing else ws.now,
            ws.now,
        )
        queries.save_profile(ws.conn, profile)
        for audience in _audience_names(ws, request.audiences_add, "audiencesChanges.adds"):
            queries.join_audience(ws.conn, audience, profile_id, ws.now)
        if request.audiences_add:
            ws.forget_talon_ids()  # a new audience got its id
        for audience in _audience_names(ws, request.audiences_remove, "audiencesChanges.deletes"):
            queries.leave_audience(ws.conn, audience, profile_id)
        response.profile = profile
        if catalog is not None:
            event = "talon_profile_updated" if existing else "talon_profile_created"
            response.events = (event,)
            facts = load_facts(ws, response.events, profile)
            apply_rules(ws, facts, Booking(ws, None, profile_id, True, response))
        attach_views(ws, response)
    return response


def why_no_code(catalog: Catalog, evaluation: Evaluation | None) -> str:
    """Why a request created no code, in one line: what -q (which prints only the codes it
    created) says on stderr instead of going silent."""
    if evaluation is None:
        return "no code was created: the rules did not run (--no-rules)"
    reasons = []
    for campaign in catalog.campaigns:
        makers = [r for r in campaign.rules if any(isinstance(e, CreateCode) for e in r.then)]
        if not makers:
            continue
        if campaign.id in evaluation.not_running:
            reasons.append(evaluation.not_running[campaign.id])
            continue
        for rule in makers:
            result = next(
                (
                    r
                    for r in evaluation.rules
                    if r.campaign_id == campaign.id and r.rule_index == rule.index
                ),
                None,
            )
            failed = result.failed_condition if result is not None else None
            if failed is not None:
                reasons.append(
                    f"rule '{rule.name}' ({campaign.id}) did not fire: {failed.words} "
                    f"— saw {failed.check.seen}"
                )
        for blocked in evaluation.blocked:
            if blocked.campaign_id == campaign.id and isinstance(
                campaign.rules[blocked.rule_index].then[blocked.effect_index], CreateCode
            ):
                reasons.append(
                    f"rule '{blocked.rule_name}' ({campaign.id}): {blocked.reason} "
                    f"— {blocked.details}"
                )
    if not reasons:
        return "no code was created: no campaign creates codes on this request"
    return "no code was created: " + "; ".join(reasons)


def _audience_names(ws: Workspace, given: tuple[str | int, ...], where: str) -> list[str]:
    """Audiences given by name or by Talon.One's integer id, as names."""
    names = []
    for index, audience in enumerate(given):
        if isinstance(audience, str):
            check_id(audience, f"{where}[{index}]")
        else:
            name = ws.talon_ids().key("audience", audience)
            if name is None:
                raise NotFoundError(f"{where}[{index}]: no audience with id {audience}")
            audience = name
        names.append(audience)
    return names


def update_profiles(
    ws: Workspace, items: list[tuple[str, ProfileInput]]
) -> list[tuple[str, Response]]:
    """PUT /v2/customer_profiles: many profiles in one request (and one transaction); the rules
    do not run, as in Talon.One."""
    with transaction(ws.conn):
        return [(pid, update_profile(ws, pid, body, run_rules=False)) for pid, body in items]


def delete_customer_data(ws: Workspace, profile_id: str) -> Erased:
    """DELETE /v1/customer_data/{id}: erase a customer's personal data — the attributes of the
    profile and of everything that references it (sessions, events, codes), and every request
    log entry that names them. What the customer earned and spent stays, keyed by their id: the
    ledger is append-only, and counters must still add up. Returns who was erased, so a door
    drops the entries it has not recorded yet too."""
    check_id(profile_id, "integrationId")
    with transaction(ws.conn):
        get_profile(ws, profile_id)
        sessions, codes = queries.customer_keys(ws.conn, profile_id)
        erased = Erased(profile_id, frozenset(sessions), frozenset(codes))
        queries.erase_attributes(ws.conn, profile_id)
        request_log.forget(ws, erased)
    return erased


def create_audience(ws: Workspace, name: str) -> tuple[int, str]:
    """POST /v2/audiences: an audience with its integer id (the same name gives the same id)."""
    check_id(name, "name")
    with transaction(ws.conn):
        queries.give_talon_id(ws.conn, "audience", name)
        number = queries.talon_ids(ws.conn)[("audience", name)]
    ws.forget_talon_ids()
    return number, clock.iso(ws.now) or ""


def change_audiences(ws: Workspace, changes: list[tuple[str, str, int]]) -> None:
    """POST /v2/customer_audiences: add customers to audiences and remove them, by audience id;
    an unknown customer is created, as a profile update would."""
    with transaction(ws.conn):
        for index, (action, profile_id, number) in enumerate(changes):
            name = ws.talon_ids().key("audience", number)
            if name is None:
                raise NotFoundError(f"data[{index}].audienceId: no audience with id {number}")
            ensure_profile(ws, profile_id)
            if action == "add":
                queries.join_audience(ws.conn, name, profile_id, ws.now)
            else:
                queries.leave_audience(ws.conn, name, profile_id)


class Inventory(NamedTuple):
    """Everything refcamp holds of one customer, read in one snapshot (getCustomerInventory)."""

    profile: Profile
    views: Views
    balances: dict[str, Any]  # program id -> Balance
    referrals: list[tuple[Referral, list[str]]]  # as advocate, with the customers it brought
    coupons: list[tuple[Coupon, int]]  # reserved for or redeemed by them, with their uses
    now: datetime
    states: dict[str, str]  # campaign states


def inventory(ws: Workspace, profile_id: str) -> Inventory:
    conn = ws.stored
    with snapshot(conn):
        profile = get_profile(ws, profile_id)
        views = customer_views(conn, profile_id)
        codes = [
            (r, queries.referred(conn, r.code))
            for r in queries.list_referrals(conn, advocate=profile_id)
        ]
        coupons = [
            (c, queries.profile_redemptions(conn, "coupon", c.code, profile_id))
            for c in queries.customer_coupons(conn, profile_id)
        ]
        return Inventory(
            profile,
            views,
            balances(ws, profile_id),
            codes,
            coupons,
            ws.now,
            queries.campaign_states(conn),
        )


class History(NamedTuple):
    """A customer's sessions (newest first, at most the number asked for) and the referral codes
    they redeemed as a friend, with their uses."""

    sessions: list[Session]
    session_count: int
    redeemed: list[tuple[Referral, int]]


def history(ws: Workspace, profile_id: str, sessions: int = 100) -> History:
    conn = ws.stored
    with snapshot(conn):
        get_profile(ws, profile_id)
        return History(
            queries.customer_sessions(conn, profile_id, sessions),
            queries.count_customer_sessions(conn, profile_id),
            queries.redeemed_referrals(conn, profile_id),
        )
