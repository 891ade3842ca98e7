"""refcamp coupon: coupon codes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated

import typer

from refcamp import listing, render, service, talon
from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json, optional_time
from refcamp.models import Coupon
from refcamp.render import short_time, table

app = typer.Typer(
    help="Coupon codes: create, list, show, reserve, unreserve.", no_args_is_help=True
)

COLUMNS = ["Code", "Campaign", "Recipient", "Used", "Starts", "Expires", "Created"]


def _table(title: str, coupons: Iterable[Coupon]) -> None:
    table(title, COLUMNS, _rows(coupons), keep=("Code", "Recipient"))


def _rows(coupons: Iterable[Coupon]) -> Iterator[tuple[str, ...]]:
    for c in coupons:
        yield (
            c.code,
            c.campaign_id,
            c.recipient_id or "anyone",
            f"{c.usage_counter}/{c.usage_limit or '∞'}",
            short_time(c.start_date),
            short_time(c.expiry_date) or "never",
            short_time(c.created),
        )


@app.command("create")
@guarded
def create(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign the coupon is for.")],
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            help="Import this code; omitted: drawn from the campaign's [campaign.coupons] pattern.",
            show_default=False,
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", help="How many codes to draw.")] = 1,
    recipient: Annotated[
        str | None,
        typer.Option("--recipient", help="Reserve for this customer only.", show_default=False),
    ] = None,
    usage_limit: Annotated[
        int | None,
        typer.Option(
            "--usage-limit",
            help="Redemptions allowed, 0 = unlimited (default: the campaign's).",
            show_default=False,
        ),
    ] = None,
    starts: Annotated[
        str | None, typer.Option("--starts", help="Valid from (ISO 8601).", show_default=False)
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Valid until (ISO 8601).", show_default=False)
    ] = None,
    as_json: Json = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the codes.")] = False,
) -> None:
    """Create coupon codes (or import one); a code that exists already is exit 1."""
    ws = workspace(ctx)

    created = service.create_coupons(
        ws,
        campaign,
        code,
        count,
        recipient,
        usage_limit,
        optional_time(starts, "--starts"),
        optional_time(expires, "--expires"),
    )
    if as_json:
        render.print_json([talon.coupon(c, ws.talon_ids()) for c in created])
    elif quiet:
        for coupon in created:
            render.line(coupon.code)
    else:
        _table(f"{len(created)} coupon(s) created", created)


@app.command("list")
@guarded
def list_(
    ctx: typer.Context,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Only this campaign's.", show_default=False)
    ] = None,
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="Only this customer's.", show_default=False)
    ] = None,
    limit: listing.Limit = None,
    offset: listing.Offset = 0,
    as_json: Json = False,
) -> None:
    """List coupon codes, oldest first (a page of 100 on a terminal: see --limit)."""
    size = listing.page_size(limit, offset, as_json)
    ws = workspace(ctx)
    coupons, total = service.coupons(ws, campaign, recipient, size, offset)
    if as_json:
        render.print_json([talon.coupon(c, ws.talon_ids()) for c in coupons])
    elif coupons:
        _table("Coupon codes", coupons)
    elif not total:
        render.line("No coupon codes.")
    if not as_json:
        listing.paged_note(len(coupons), offset, total)


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="The coupon code.")],
    as_json: Json = False,
) -> None:
    """Show one coupon code."""
    ws = workspace(ctx)

    coupon = service.get_coupon(ws, code)
    if as_json:
        render.print_json(talon.coupon(coupon, ws.talon_ids()))
    else:
        _table(f"Coupon code {coupon.code}", [coupon])


Customers = Annotated[
    list[str],
    typer.Option("--profile", help="A customer (repeat it for several).", show_default=False),
]


@app.command("reserve")
@guarded
def reserve(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="The coupon code.")],
    profile: Customers,
    as_json: Json = False,
) -> None:
    """Reserve a coupon for customers (createCouponReservation): a soft reservation, shown in
    their inventory; anyone may still redeem the coupon. A coupon made with --recipient is that
    customer's alone: reserving it for another is exit 1."""
    ws = workspace(ctx)

    coupon, new = service.reserve_coupon(ws, code, tuple(profile))
    if as_json:
        data = talon.coupon(coupon, ws.talon_ids())
        data["isNewReservation"] = any(new.values())
        render.print_json(data)
        return
    for customer, fresh in new.items():
        said = "is now reserved" if fresh else "was already reserved"
        render.line(f"{coupon.code} {said} for {customer}.")


@app.command("unreserve")
@guarded
def unreserve(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="The coupon code.")],
    profile: Customers,
) -> None:
    """Remove the customers' reservations of a coupon (deleteCouponReservation); a coupon made
    with --recipient stays theirs."""
    ws = workspace(ctx)

    service.unreserve_coupon(ws, code, tuple(profile))
    for customer in dict.fromkeys(profile):
        render.line(f"{code} is not reserved for {customer}.")
