"""refcamp campaign: list, show, activate, deactivate, validate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json

app = typer.Typer(
    help="Campaigns: list, show in words, activate, deactivate, validate.", no_args_is_help=True
)

CampaignId = Annotated[str, typer.Argument(metavar="ID", help="The campaign id.")]


def rule_words(rule) -> str:  # type: ignore[no-untyped-def]
    when = " and ".join(c.words() for c in rule.when) or "always"
    then = " and ".join(e.words() for e in rule.then)
    return f"When {when}, then {then}."


@app.command("list")
@guarded
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List the campaigns of the campaign directory with their current state."""
    from refcamp import render, service, talon

    ws = workspace(ctx)
    rows = service.campaigns(ws)
    if as_json:
        render.print_json([talon.campaign(c, state) for c, state in rows])
        return
    render.table(
        f"Campaigns in {ws.catalog.directory}",
        ["ID", "Name", "State", "Features", "Rules"],
        [(c.id, c.name, state, ", ".join(c.features), len(c.rules)) for c, state in rows],
    )


@app.command("show")
@guarded
def show(ctx: typer.Context, campaign_id: CampaignId, as_json: Json = False) -> None:
    """Show a campaign, reading every rule back in words."""
    from refcamp import render, service, talon

    ws = workspace(ctx)
    campaign = service.find_campaign(ws.catalog, campaign_id)
    state = dict((c.id, s) for c, s in service.campaigns(ws))[campaign.id]
    if as_json:
        data = talon.campaign(campaign, state)
        data.update(
            source=campaign.source,
            rulesetId=campaign.ruleset_id,
            rules=[
                {"ruleIndex": r.index, "name": r.name, "words": rule_words(r)}
                for r in campaign.rules
            ],
        )
        render.print_json(data)
        return
    render.line(f"{campaign.name} ({campaign.id}) — {state}")
    render.line(f"File: {campaign.source}; features: {', '.join(campaign.features) or 'none'}")
    for rule in campaign.rules:
        render.line(f"  Rule {rule.index + 1} '{rule.name}': {rule_words(rule)}")


def _set_state(ctx: typer.Context, campaign_id: str, state: str, as_json: bool) -> None:
    from refcamp import render, service, talon

    ws = workspace(ctx)
    campaign, before = service.set_campaign_state(ws, campaign_id, state)
    if as_json:
        render.print_json(talon.campaign(campaign, state))
    elif before == state:
        render.line(f"{campaign.id} was already {state}.")
    else:
        render.line(f"{campaign.id}: {before} -> {state}")


@app.command("activate")
@guarded
def activate(ctx: typer.Context, campaign_id: CampaignId, as_json: Json = False) -> None:
    """Enable a campaign: its rules run from now on."""
    _set_state(ctx, campaign_id, "enabled", as_json)


@app.command("deactivate")
@guarded
def deactivate(ctx: typer.Context, campaign_id: CampaignId, as_json: Json = False) -> None:
    """Disable a campaign: its rules stop running (codes it made stay)."""
    _set_state(ctx, campaign_id, "disabled", as_json)


@app.command("validate")
@guarded
def validate(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A campaign file or directory; omitted: the campaign directory.",
            show_default=False,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Check campaign files; every problem is listed with its file, rule and key (exit 2)."""
    from refcamp import render
    from refcamp.campaigns import load
    from refcamp.errors import CampaignFileError

    ws = workspace(ctx)
    target = path if path is not None else ws.campaigns_dir
    try:
        catalog = load(target)
    except CampaignFileError as error:
        if as_json:
            render.print_json({"valid": False, "problems": error.problems})
            raise typer.Exit(2) from None
        raise
    if as_json:
        render.print_json(
            {
                "valid": True,
                "campaigns": [c.id for c in catalog.campaigns],
                "programs": list(catalog.programs),
            }
        )
        return
    render.line(
        f"{target}: {len(catalog.campaigns)} campaign(s), "
        f"{len(catalog.programs)} loyalty program(s), all valid."
    )
