"""Campaigns: each with its state, schedule, limits and rules in words (what `campaign show`
prints), and a switch that activates or deactivates it (the CLI's service call)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from refcamp import render, service
from refcamp.clock import iso
from refcamp.errors import RefcampError


def _campaign(campaign: Any, state: str) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "state": state,
        "description": campaign.description,
        "priority": campaign.priority,
        "features": ", ".join(campaign.features) or "none",
        "start": iso(campaign.start) if campaign.start else None,
        "end": iso(campaign.end) if campaign.end else None,
        "limits": [limit.words() for limit in campaign.limits],
        "rules": [(rule.name, render.rule_words(rule)) for rule in campaign.rules],
        "source": campaign.source,
    }


def routes(console: Any) -> list[Route]:
    async def campaigns(request: Request) -> Response:
        rows = await console.read(lambda ws: service.campaigns(ws))
        shown = [_campaign(campaign, state) for campaign, state in rows]
        return console.page(request, "campaigns.html", campaigns=shown, message=None)

    async def switch(request: Request) -> Response:
        fields = await console.form(request)
        if not console.keys.form_is_ours(request, fields.get("csrf", "")):
            message = "This form did not come from the console's own page (CSRF check): reload."
            return console.page(request, "error.html", 403, message=message)
        campaign_id = request.path_params["campaign"]
        state = fields.get("state", "")
        if state not in ("enabled", "disabled"):
            message = f"state: expected enabled or disabled, got {state!r}"
            return console.page(request, "error.html", 400, message=message)
        try:
            await console.read(lambda ws: service.set_campaign_state(ws, campaign_id, state))
        except RefcampError as error:
            return console.page(request, "error.html", 404, message=str(error))
        return RedirectResponse(f"/campaigns#campaign-{campaign_id}", 303)

    return [
        Route("/campaigns", console.guarded(campaigns), methods=["GET"]),
        Route("/campaigns/{campaign}/state", console.guarded(switch), methods=["POST"]),
    ]
