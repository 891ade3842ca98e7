"""refcamp referral: referral codes."""

from __future__ import annotations

from typing import Annotated

import typer

from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json

app = typer.Typer(help="Referral codes: list and show.", no_args_is_help=True)


def _rows(referrals):  # type: ignore[no-untyped-def]
    from refcamp.clock import iso

    for r in referrals:
        yield (
            r.code,
            r.campaign_id,
            r.advocate_id,
            r.friend_id or "",
            f"{r.usage_counter}/{r.usage_limit or 'unlimited'}",
            iso(r.expiry_date) or "never",
            iso(r.created),
        )


COLUMNS = ["Code", "Campaign", "Advocate", "Friend", "Used", "Expires", "Created"]


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
    as_json: Json = False,
) -> None:
    """List referral codes."""
    from refcamp import render, service, talon

    referrals = service.referrals(workspace(ctx), advocate, campaign)
    if as_json:
        render.print_json([talon.referral(r) for r in referrals])
    elif referrals:
        render.table("Referral codes", COLUMNS, _rows(referrals))
    else:
        render.line("No referral codes.")


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="The referral code.")],
    as_json: Json = False,
) -> None:
    """Show one referral code."""
    from refcamp import render, service, talon

    referral = service.get_referral(workspace(ctx), code)
    if as_json:
        render.print_json(talon.referral(referral))
    else:
        render.table(f"Referral code {referral.code}", COLUMNS, _rows([referral]))
