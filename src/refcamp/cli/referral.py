"""refcamp referral: referral codes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated

import typer

from refcamp import listing, render, service, talon
from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json, optional_time
from refcamp.errors import InputError
from refcamp.models import Referral
from refcamp.payloads import check_id
from refcamp.render import short_time, table
from refcamp.tables import LARGEST

app = typer.Typer(help="Referral codes: create, list, show.", no_args_is_help=True)


def _rows(referrals: Iterable[Referral]) -> Iterator[tuple[str, ...]]:
    for r in referrals:
        yield (
            r.code,
            r.campaign_id,
            r.advocate_id,
            r.friend_id or "",
            f"{r.usage_counter}/{r.usage_limit or '∞'}",
            short_time(r.start_date),
            short_time(r.expiry_date) or "never",
            short_time(r.created),
        )


COLUMNS = ["Code", "Campaign", "Advocate", "Friend", "Used", "Starts", "Expires", "Created"]


def _table(title: str, referrals: Iterable[Referral]) -> None:
    table(title, COLUMNS, _rows(referrals), keep=("Code", "Advocate"))


Code = Annotated[
    str | None,
    typer.Option(
        "--code",
        help="Import this code; omitted: one is drawn from the campaign's pattern.",
        show_default=False,
    ),
]
UsageLimit = Annotated[
    int | None,
    typer.Option(
        "--usage-limit",
        help="Redemptions allowed, 0 = unlimited (default: the campaign's).",
        show_default=False,
    ),
]
Starts = Annotated[
    str | None, typer.Option("--starts", help="Valid from (ISO 8601).", show_default=False)
]
Expires = Annotated[
    str | None,
    typer.Option(
        "--expires",
        help="Valid until (ISO 8601; default: the campaign's valid_for, else never).",
        show_default=False,
    ),
]


@app.command("create")
@guarded
def create(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign the code belongs to.")],
    advocate: Annotated[str, typer.Option("--advocate", help="The advocate's integration id.")],
    code: Code = None,
    friend: Annotated[
        str | None,
        typer.Option("--friend", help="Only this friend may redeem it.", show_default=False),
    ] = None,
    usage_limit: UsageLimit = None,
    starts: Starts = None,
    expires: Expires = None,
    as_json: Json = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the code.")] = False,
) -> None:
    """Create or import a referral code for an advocate (a code that exists already: exit 1)."""
    # Checked here too, so a message names the option typed (the service names the field).
    for value, option in ((advocate, "--advocate"), (friend, "--friend"), (code, "--code")):
        if value is not None:
            check_id(value, option)
    if friend is not None and friend == advocate:
        raise InputError("--friend: is the advocate; a friend is someone else")
    if usage_limit is not None and not 0 <= usage_limit <= LARGEST:
        raise InputError(f"--usage-limit: 0 (unlimited) to {LARGEST}, got {usage_limit}")
    ws = workspace(ctx)
    referral = service.create_referral(
        ws,
        campaign,
        advocate,
        code,
        friend,
        usage_limit,
        optional_time(starts, "--starts"),
        optional_time(expires, "--expires"),
    )
    if as_json:
        render.print_json(talon.referral(referral, ws.talon_ids()))
    elif quiet:
        render.line(referral.code)
    else:
        _table(f"Referral code {referral.code} created", [referral])


@app.command("list")
@guarded
def list_(
    ctx: typer.Context,
    advocate: Annotated[
        str | None,
        typer.Option("--advocate", help="Only this advocate's codes.", show_default=False),
    ] = None,
    campaign: Annotated[
        str | None,
        typer.Option("--campaign", help="Only this campaign's codes.", show_default=False),
    ] = None,
    limit: listing.Limit = None,
    offset: listing.Offset = 0,
    as_json: Json = False,
) -> None:
    """List referral codes, oldest first (a page of 100 on a terminal: see --limit)."""
    size = listing.page_size(limit, offset, as_json)
    ws = workspace(ctx)
    referrals, total = service.referrals(ws, advocate, campaign, size, offset)
    if as_json:
        render.print_json([talon.referral(r, ws.talon_ids()) for r in referrals])
    elif referrals:
        _table("Referral codes", referrals)
    elif not total:
        render.line("No referral codes.")
    if not as_json:
        listing.paged_note(len(referrals), offset, total)


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="The referral code.")],
    as_json: Json = False,
) -> None:
    """Show one referral code."""
    ws = workspace(ctx)

    referral = service.get_referral(ws, code)
    if as_json:
        render.print_json(talon.referral(referral, ws.talon_ids()))
    else:
        _table(f"Referral code {referral.code}", [referral])
