"""refcamp campaign: list, show, activate, deactivate, validate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from refcamp import render, service, talon
from refcamp.campaigns import shown
from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json
from refcamp.errors import CampaignFileError, InputError
from refcamp.models import Campaign, TalonIds
from refcamp.service import authoring

app = typer.Typer(
    help="Campaigns: list, show in words, activate, deactivate, validate.", no_args_is_help=True
)

CampaignId = Annotated[str, typer.Argument(metavar="ID", help="The campaign id.")]


def _campaign_json(campaign: Campaign, state: str, ids: TalonIds) -> dict[str, Any]:
    """Talon.One's Campaign, with refcamp's own facts (its readable id) under "refcamp"."""
    return {**talon.campaign(campaign, state, ids), "refcamp": {"id": campaign.id}}


@app.command("list")
@guarded
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List the campaigns of the campaign directory with their current state."""
    ws = workspace(ctx)
    rows = service.campaigns(ws)
    if as_json:
        ids = ws.talon_ids()
        render.print_json([_campaign_json(c, state, ids) for c, state in rows])
        return
    render.table(
        f"Campaigns in {Path(ws.catalog.directory).resolve()}",  # not "Campaigns in campaigns"
        ["ID", "Name", "State", "Features", "Rules"],
        [(c.id, c.name, state, ", ".join(c.features), len(c.rules)) for c, state in rows],
    )
    missing = service.unreachable_codes(ws)
    if missing:  # earlier state is never silently out of reach
        listed = ", ".join(f"{c} ({n:,} code{'s' if n != 1 else ''})" for c, n in missing.items())
        render.note(
            f"The state file holds codes of campaigns that are not in {ws.catalog.directory}: "
            f"{listed}. They are rejected while this campaign directory is in use; give "
            "--campaigns DIR (or REFCAMP_CAMPAIGNS) with their files to use them."
        )


@app.command("show")
@guarded
def show(ctx: typer.Context, campaign_id: CampaignId, as_json: Json = False) -> None:
    """Show a campaign, reading every rule back in words."""
    ws = workspace(ctx)
    campaign = service.find_campaign(ws.catalog, campaign_id, ws.talon_ids())
    state = dict((c.id, s) for c, s in service.campaigns(ws))[campaign.id]
    if as_json:
        data = _campaign_json(campaign, state, ws.talon_ids())
        data["refcamp"].update(
            source=campaign.source,
            ruleset=campaign.ruleset_id,
            rules=[
                {"ruleIndex": r.index, "name": r.name, "words": render.rule_words(r)}
                for r in campaign.rules
            ],
        )
        render.print_json(data)
        return
    render.line(f"{campaign.name} ({campaign.id}) — {state}")
    render.line(f"File: {campaign.source}; features: {', '.join(campaign.features) or 'none'}")
    for rule in campaign.rules:
        render.line(f"  Rule {rule.index + 1} '{rule.name}': {render.rule_words(rule)}")


def _set_state(ctx: typer.Context, campaign_id: str, state: str, as_json: bool) -> None:
    ws = workspace(ctx)
    campaign, before = service.set_campaign_state(ws, campaign_id, state)
    if as_json:
        render.print_json(_campaign_json(campaign, state, ws.talon_ids()))
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
    """Check campaign files; every problem is listed with its file, rule and key (exit 2).
    A file is checked together with the other campaign files of its folder, as a command would
    load it (a program may be defined in another file; ids must be unique)."""
    try:
        checked = authoring.check_campaigns(workspace(ctx), path)
    except CampaignFileError as error:
        if as_json:
            problems = [problem.parts() for problem in error.problems]
            render.print_json({"valid": False, "problems": problems})
            raise typer.Exit(2) from None
        raise
    if as_json:
        # A file's own campaigns and programs; the files it was checked with under checkedWith.
        campaigns, programs = checked.own_ids()
        render.print_json(
            {
                "valid": True,
                "campaigns": campaigns,
                "programs": programs,
                "warnings": list(checked.catalog.warnings),
                "checkedWith": [shown(p) for p in checked.neighbours],
            }
        )
        return
    _print_checked(checked)


def _print_checked(checked: authoring.Checked) -> None:
    target, catalog, neighbours = checked.target, checked.catalog, checked.neighbours
    for warning in catalog.warnings:
        render.note(f"warning: {warning}")
    if neighbours:
        render.line(
            f"{shown(target)}: valid, checked with the other campaign files of its folder "
            f"({', '.join(p.name for p in neighbours)})."
        )
    render.line(
        f"{shown(target.parent) if neighbours else shown(target)}: {len(catalog.campaigns)} "
        f"campaign(s), {len(catalog.programs)} loyalty program(s), all valid."
    )


@app.command("new")
@guarded
def new(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(metavar="ID", help="The new campaign's id.")],
    template: Annotated[
        str, typer.Option("--template", help="referral, coupon or loyalty.")
    ] = "referral",
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where to write ID.toml (default: the campaign directory, or ./campaigns).",
            show_default=False,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Write a valid, commented campaign file from a template (never over an existing file)."""
    written = authoring.new_campaign(workspace(ctx), campaign_id, template, directory)
    if as_json:
        render.print_json(
            {
                "id": written.campaign_id,
                "template": written.template,
                "path": str(written.path),
                "campaignDirectory": str(written.campaign_directory),
                "inCampaignDirectory": written.in_campaign_directory,
                "copiedSamples": [p.name for p in written.copied],
            }
        )
    else:
        _print_written(written)


def _print_written(written: authoring.Written) -> None:
    path, campaign_id = written.path, written.campaign_id
    render.line(f"Wrote {path}.")
    if written.takes_over:
        render.line(
            f"It is in a new folder ./{authoring.LOCAL} with copies of the shipped samples "
            f"({', '.join(p.name for p in written.copied)}): refcamp run in this folder now "
            f"reads ./{authoring.LOCAL} instead of the shipped samples, and the copies keep "
            "their campaigns and the codes they issued working."
        )
    elif not written.in_campaign_directory:
        render.line(
            f"It is not in the campaign directory in use ({shown(written.campaign_directory)}): "
            f"give --campaigns {path.parent} (or set REFCAMP_CAMPAIGNS) to use it."
        )
    render.line(
        f"It starts disabled: `refcamp campaign activate {campaign_id}`. Check edits with "
        f"`refcamp campaign validate {path}`."
    )


PointValue = Annotated[
    float, typer.Option("--point-value", help="What one point costs you, for the cost figures.")
]


@app.command("stats")
@guarded
def stats(
    ctx: typer.Context,
    campaign_id: CampaignId,
    point_value: PointValue = 0.01,
    as_json: Json = False,
) -> None:
    """What a campaign has done, from the state file: codes, redemptions and rejections by
    reason, points issued and rolled back, discounts, cost per acquired customer."""
    if point_value < 0:
        raise InputError(f"--point-value: must not be negative, got {point_value}")
    figures = talon.campaign_stats(service.campaign_stats(workspace(ctx), campaign_id, point_value))
    if as_json:
        render.print_json(figures)
        return
    render.stats(figures)
    render.chart("Points issued per day", [(d["day"], d["points"]) for d in figures["pointsByDay"]])
