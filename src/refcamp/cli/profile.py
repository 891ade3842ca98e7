"""refcamp profile: customer profiles (PUT /v2/customer_profiles/{integrationId})."""

from __future__ import annotations

from typing import Annotated

import typer

from refcamp import render, routes, service, talon
from refcamp.cli import guarded, respond, workspace
from refcamp.cli.options import Attrs, DryRun, Explain, Json, Payload, Quiet
from refcamp.option_values import read_attrs, read_json
from refcamp.payloads import ProfileInput, check_id, read_profile_body
from refcamp.service import request_log
from refcamp.service.request_log import record_after

app = typer.Typer(help="Customer profiles: update (register) and show.", no_args_is_help=True)


@app.command("update")
@guarded
def update(
    ctx: typer.Context,
    profile_id: Annotated[str, typer.Argument(metavar="ID", help="The profile's integration id.")],
    attr: Attrs = None,
    no_rules: Annotated[
        bool,
        typer.Option(
            "--no-rules",
            help="Save without running the rule engine "
            "(runRuleEngine=false): no event, no effects.",
        ),
    ] = False,
    audience_add: Annotated[
        list[str] | None,
        typer.Option(
            "--audience-add",
            help="Add the customer to this audience (repeatable).",
            show_default=False,
        ),
    ] = None,
    audience_remove: Annotated[
        list[str] | None,
        typer.Option(
            "--audience-remove", help="Remove the customer from this audience.", show_default=False
        ),
    ] = None,
    payload: Payload = None,
    dry_run: DryRun = False,
    explain: Explain = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Create or update a customer profile and run the rules.

    A new ID fires talon_profile_created (Customer Profile Registration), a known one
    talon_profile_updated. With -q, prints only the codes created (referral codes, then
    coupons), one per line; when none is created it says why on stderr.
    """
    request = read_profile_body(read_json(payload)) if payload else ProfileInput()
    for option, names in (("--audience-add", audience_add), ("--audience-remove", audience_remove)):
        for name in names or []:
            check_id(name, option)
    if attr or audience_add or audience_remove:
        request = ProfileInput(
            {**request.attributes, **read_attrs(attr or [])},
            (*request.audiences_add, *(audience_add or [])),
            (*request.audiences_remove, *(audience_remove or [])),
            request.response_content,
            request.notes,
        )
    ws = workspace(ctx)
    resp = service.update_profile(ws, profile_id, request, run_rules=not no_rules, dry_run=dry_run)
    codes = [r.code for r in resp.created_referrals] + [c.code for c in resp.created_coupons]
    if quiet and not as_json and not codes:  # an empty line alone would pass for a code
        resp.notes.append(service.why_no_code(ws.catalog, resp.evaluation))
    path = routes.PROFILE.format(profile_id)
    respond(ctx, resp, as_json, quiet, explain, codes, ("PUT", path))


@app.command("delete")
@guarded
def delete(
    ctx: typer.Context,
    profile_id: Annotated[str, typer.Argument(metavar="ID", help="The profile's integration id.")],
) -> None:
    """Erase a customer's personal data: the attributes of the profile and of its sessions,
    events and codes (DELETE /v1/customer_data/ID). Points and code uses stay, as in Talon.One."""
    ws = workspace(ctx)
    service.delete_customer_data(ws, profile_id)
    # Logged as the HTTP door logs it: without the id, which the log must no longer hold.
    record_after(ws, talon.log_entry("cli", "DELETE", request_log.ERASURE_PATH, ws.now))
    render.line(f"Erased the personal data of {profile_id}.")


@app.command("show")
@guarded
def show(
    ctx: typer.Context,
    profile_id: Annotated[str, typer.Argument(metavar="ID", help="The profile's integration id.")],
    as_json: Json = False,
) -> None:
    """Show a customer profile: attributes, sessions, balances and referral codes."""
    ws = workspace(ctx)
    inventory = service.inventory(ws, profile_id)
    profile, balances = inventory.profile, inventory.balances
    codes = [r for r, _ in inventory.referrals]
    if as_json:
        render.print_json(talon.inventory(inventory, ws.talon_ids(), ws.catalog))
        return
    closed, sales, last = inventory.views.stats
    render.table(
        f"Customer profile {profile.id}",
        ["Field", "Value"],
        [
            ("created", talon.iso(profile.created)),
            ("last activity", last or talon.iso(profile.updated)),
            ("closed sessions", closed),
            ("total sales", f"{sales:g}"),
            *((f"attributes.{k}", v) for k, v in profile.attributes.items()),
            *(
                (f"{p} balance", f"{b.current} current, {b.pending} pending")
                for p, b in balances.items()
            ),
            ("referral codes", ", ".join(r.code for r in codes) or "none"),
        ],
    )
