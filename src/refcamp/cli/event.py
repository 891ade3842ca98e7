"""refcamp event: custom events (POST /v2/events)."""

from __future__ import annotations

from typing import Annotated

import typer

from refcamp import routes, service
from refcamp.cli import guarded, respond, workspace
from refcamp.cli.options import Attrs, DryRun, Explain, Json, Payload
from refcamp.errors import InputError
from refcamp.option_values import read_attrs, read_json
from refcamp.payloads import EventInput, read_event_body

app = typer.Typer(help="Custom events: track.", no_args_is_help=True)


@app.command("track")
@guarded
def track(
    ctx: typer.Context,
    event_type: Annotated[
        str | None,
        typer.Argument(
            metavar="TYPE",
            help="The event type, e.g. review_posted (or the payload's type).",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="The customer (or the payload's profileId); without one the event is anonymous, "
            "a convenience of the command line (Talon.One's API requires a profileId).",
            show_default=False,
        ),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            help="One of the customer's sessions, for cart conditions.",
            show_default=False,
        ),
    ] = None,
    attr: Attrs = None,
    payload: Payload = None,
    dry_run: DryRun = False,
    explain: Explain = False,
    as_json: Json = False,
) -> None:
    """Track a custom event for a customer, or an anonymous one; rules with { event = "TYPE" }
    react to it."""
    body = (
        read_event_body(read_json(payload), need_type=False, need_profile=False)
        if payload
        else EventInput()
    )
    event_type = event_type or body.type
    profile = profile or body.profile_id
    if not event_type:
        raise InputError("give the event TYPE (or type in the payload)")
    attributes = {**body.attributes, **read_attrs(attr or [])}
    resp = service.track_event(
        workspace(ctx),
        event_type,
        profile,
        session or body.session_id,
        attributes,
        dry_run=dry_run,
        response_content=body.response_content,
    )
    resp.notes[:0] = list(body.notes)
    path = routes.EVENT.path
    respond(ctx, resp, as_json, False, explain, [], ("POST", path))
