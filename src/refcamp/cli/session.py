"""refcamp session: customer sessions (PUT /v2/customer_sessions/{customerSessionId})."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from refcamp import render, routes, service, talon
from refcamp.cli import guarded, log_request, respond, workspace
from refcamp.cli.options import Attrs, DryRun, Explain, Json, Payload, Quiet
from refcamp.errors import InputError
from refcamp.models import SESSION_STATES
from refcamp.option_values import read_attrs, read_item, read_json
from refcamp.payloads import (
    ReturnInput,
    SessionInput,
    check_id,
    read_return_body,
    read_returned_item,
    read_session_body,
)

app = typer.Typer(help="Customer sessions: update, close, cancel, show.", no_args_is_help=True)

SessionId = Annotated[
    str | None,
    typer.Argument(
        metavar="ID",
        help="The session's integration id; omitted: a new one is made.",
        show_default=False,
    ),
]
KnownSession = Annotated[
    str, typer.Argument(metavar="ID", help="The session's integration id.", show_default=False)
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="The customer; omitted: a new customer with a generated id.",
        show_default=False,
    ),
]
Anonymous = Annotated[bool, typer.Option("--anonymous", help="A session without a customer.")]
ReferralOption = Annotated[
    str | None,
    typer.Option("--referral", help="The referral code the session carries.", show_default=False),
]
Coupons = Annotated[
    list[str] | None,
    typer.Option(
        "--coupon",
        help="A coupon code the session carries (repeatable; replaces the session's codes).",
        show_default=False,
    ),
]
Items = Annotated[
    list[str] | None,
    typer.Option(
        "--item",
        help="A cart item: sku=S,name=N,price=P,quantity=Q,category=C "
        "(repeatable; replaces the cart).",
        show_default=False,
    ),
]


def _request(
    payload: str | None,
    profile: str | None,
    anonymous: bool,
    state: str | None,
    referral: str | None,
    items: list[str] | None,
    attr: list[str] | None,
    coupons: list[str] | None,
) -> SessionInput:
    request = read_session_body(read_json(payload)) if payload else SessionInput()
    changes: dict[str, Any] = {}
    if anonymous and profile:
        raise InputError("--profile and --anonymous contradict each other; give one")
    if anonymous:
        changes["profile_id"] = None
    elif profile is not None:
        changes["profile_id"] = check_id(profile, "--profile")
    if state is not None:
        changes["state"] = state
    if referral is not None:
        changes["referral_code"] = check_id(referral, "--referral")
    if coupons:
        changes["coupon_codes"] = tuple(check_id(c, "--coupon") for c in coupons)
    if items:
        changes["cart_items"] = tuple(read_item(spec, i) for i, spec in enumerate(items))
    if attr:
        changes["attributes"] = {**request.attributes, **read_attrs(attr)}
    return SessionInput(**{**request.__dict__, **changes})


def _update(
    ctx: typer.Context,
    session_id: str | None,
    request: SessionInput,
    dry_run: bool,
    explain: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    ws = workspace(ctx)
    resp = service.update_session(ws, session_id, request, dry_run=dry_run, invent_profile=True)
    made = resp.session.id if resp.session else session_id or ""
    path = routes.SESSION.format(made)
    respond(ctx, resp, as_json, quiet, explain, [made] if resp.session else [], ("PUT", path))


@app.command("update")
@guarded
def update(
    ctx: typer.Context,
    session_id: SessionId = None,
    profile: ProfileOption = None,
    anonymous: Anonymous = False,
    state: Annotated[
        str | None,
        typer.Option("--state", help="open (default), closed or cancelled.", show_default=False),
    ] = None,
    referral: ReferralOption = None,
    coupon: Coupons = None,
    item: Items = None,
    attr: Attrs = None,
    payload: Payload = None,
    dry_run: DryRun = False,
    explain: Explain = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Create or update a customer session and run the rules.

    Points and code uses are booked only when the session closes; an open session shows what
    would happen. With -q, prints only the session id.
    """
    if state is not None and state not in SESSION_STATES:
        raise InputError(f"--state: unknown state {state!r}; one of: {', '.join(SESSION_STATES)}")
    request = _request(payload, profile, anonymous, state, referral, item, attr, coupon)
    _update(ctx, session_id, request, dry_run, explain, as_json, quiet)


@app.command("close")
@guarded
def close(
    ctx: typer.Context,
    session_id: SessionId = None,
    profile: ProfileOption = None,
    anonymous: Anonymous = False,
    referral: ReferralOption = None,
    coupon: Coupons = None,
    item: Items = None,
    attr: Attrs = None,
    payload: Payload = None,
    dry_run: DryRun = False,
    explain: Explain = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Close a customer session (Customer Session Closing): codes are redeemed, points booked.

    Closing a session that is already closed awards nothing again.
    """
    request = _request(payload, profile, anonymous, "closed", referral, item, attr, coupon)
    _update(ctx, session_id, request, dry_run, explain, as_json, quiet)


@app.command("cancel")
@guarded
def cancel(
    ctx: typer.Context,
    session_id: KnownSession,
    dry_run: DryRun = False,
    explain: Explain = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Cancel a session. A closed one is revoked: every point it booked (the advocate's too) and
    every code use is rolled back. An open one books nothing. Cancelling twice changes nothing."""
    resp = service.cancel_session(workspace(ctx), session_id, dry_run=dry_run)
    path = routes.SESSION.format(session_id)
    respond(ctx, resp, as_json, quiet, explain, [session_id], ("PUT", path))


@app.command("reopen")
@guarded
def reopen(
    ctx: typer.Context,
    session_id: KnownSession,
    dry_run: DryRun = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Reopen a closed session: what its close booked (points, code uses, discounts) is rolled
    back, and closing it again books anew (PUT /v2/customer_sessions/ID/reopen)."""
    ws = workspace(ctx)
    resp = service.reopen_session(ws, session_id, dry_run=dry_run)
    path = routes.REOPEN.format(session_id)
    if as_json:  # reopenCustomerSession's body
        log_request(ctx, resp, "PUT", path)
        ids = ws.talon_ids()
        render.print_json({"effects": [talon.effect(e, ids) for e in resp.effects]})
        return
    respond(ctx, resp, False, quiet, False, [session_id], ("PUT", path))


@app.command("return")
@guarded
def return_(
    ctx: typer.Context,
    session_id: KnownSession,
    item: Annotated[
        list[str] | None,
        typer.Option(
            "--item",
            help="A returned cart item: position=P[,quantity=Q] (repeatable; quantity omitted: "
            "all that is left of it).",
            show_default=False,
        ),
    ] = None,
    payload: Payload = None,
    dry_run: DryRun = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Return items of a closed session: the points the session earned and its discounts are
    rolled back in proportion to the value returned (POST /v2/customer_sessions/ID/returns)."""
    if payload and item:
        raise InputError("--payload and --item contradict each other; give one")
    if payload:
        request = read_return_body(read_json(payload))
    elif item:
        request = ReturnInput(tuple(read_returned_item(spec) for spec in item))
    else:
        raise InputError("say what is returned: --item position=P[,quantity=Q] or --payload")
    resp = service.return_items(workspace(ctx), session_id, request, dry_run=dry_run)
    path = routes.RETURN.format(session_id)
    respond(ctx, resp, as_json, quiet, False, [session_id], ("POST", path))


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    session_id: KnownSession,
    as_json: Json = False,
) -> None:
    """Show a customer session: state, customer, cart, codes."""
    ws = workspace(ctx)
    session, views, effects = service.session_view(ws, session_id)
    data = talon.session(session, views.first_session, views.returned_items)
    if as_json:
        ids = ws.talon_ids()
        render.print_json(
            {"customerSession": data, "effects": [talon.effect(e, ids) for e in effects]}
        )
        return
    render.table(
        f"Customer session {session.id}",
        ["Field", "Value"],
        [
            ("state", session.state),
            ("customer", session.profile_id or "(anonymous)"),
            ("referral code", session.referral_code or ""),
            ("coupon codes", ", ".join(session.coupon_codes)),
            ("total", f"{session.total:g}"),
            ("created", data["created"]),
            ("updated", data["updated"]),
            *((f"attributes.{k}", v) for k, v in session.attributes.items()),
        ],
    )
    if session.cart_items:
        render.table(
            "Cart",
            ["#", "SKU", "Name", "Category", "Price", "Quantity"],
            [
                (i.position, i.sku, i.name, i.category, f"{i.price:g}", i.quantity)
                for i in session.cart_items
            ],
        )
