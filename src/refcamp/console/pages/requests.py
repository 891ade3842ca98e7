"""Requests: the newest requests from every door (HTTP, CLI, replay), newest first, arriving
without a reload (console.js polls /requests/feed), each with its effects in words and its
rejections; and one request's page with everything it did and why (the --explain trace)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from refcamp import render
from refcamp.errors import NotFoundError
from refcamp.models import LoggedRequest
from refcamp.render import cell_text
from refcamp.service import request_log

PAGE = 50  # requests a page (and a feed answer) shows
LARGEST_ID = 2**63 - 1  # SQLite's largest integer: a larger id is no request


def _effect(effect: Any) -> dict[str, Any]:
    reason = effect.props.get("rejectionReason")
    return {
        "type": effect.effect_type,
        "words": render.effect_words(effect),
        "campaign": effect.campaign_id,
        "rule": effect.rule_name,
        "rejection": None if reason is None else cell_text(reason),
        "props": [(key, cell_text(value)) for key, value in effect.props.items()],
    }


def _campaigns(explanation: Any) -> list[dict[str, Any]]:
    """The explanation's rules grouped by campaign, in their order."""
    grouped: dict[str, list[Any]] = {}
    for rule in explanation.get("rules", []):
        grouped.setdefault(str(rule.get("campaign", "")), []).append(rule)
    return [{"id": campaign, "rules": rules} for campaign, rules in grouped.items()]


def _request(entry: LoggedRequest) -> dict[str, Any]:
    """What the pages show of one logged request: text and numbers only."""
    effects = [_effect(effect) for effect in entry.effects]
    explanation = entry.explanation
    return {
        "id": entry.id,
        "door": entry.door,
        "time": entry.time.strftime("%Y-%m-%d %H:%M:%S"),
        "iso": entry.time.isoformat(),
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "ok": entry.status < 400,
        "profile_id": entry.profile_id,
        "session_id": entry.session_id,
        "effects": effects,
        "rejections": [e for e in effects if e["rejection"] is not None],
        "message": entry.message,
        "explained": explanation is not None,
        "campaigns": _campaigns(explanation) if explanation else [],
        "not_running": sorted((explanation or {}).get("notRunning", {}).items()),
    }


def _number(text: str | None) -> int | None:
    """A request id from a query parameter: None when absent or not a whole number."""
    if text is None or not text.isdigit() or int(text) > LARGEST_ID:
        return None
    return int(text)


def routes(console: Any) -> list[Route]:
    async def requests(request: Request) -> Response:
        given = request.query_params.get("before")
        before = _number(given)
        if given is not None and before is None:
            message = f"before: expected a request id (a whole number), got {given!r}"
            return console.page(request, "error.html", 400, message=message)
        rows = await console.read(lambda ws: request_log.recent(ws, before=before, limit=PAGE + 1))
        shown = [_request(entry) for entry in rows[:PAGE]]
        older = shown[-1]["id"] if len(rows) > PAGE else None
        return console.page(
            request,
            "requests.html",
            requests=shown,
            newest=shown[0]["id"] if shown else 0,
            live=before is None,  # an older page stays as it is
            older=older,
            before=before,
            size=console.door.settings.request_log,
        )

    async def feed(request: Request) -> Response:
        """The rows newer than ?after=N, newest first (HTML for console.js); X-Newest says the
        newest id now shown. Only for the signed in (the cookie or the API's header)."""
        if not console.keys.signed_in(request):
            return PlainTextResponse("Sign in to the console first.", 401)
        given = request.query_params.get("after", "0")
        after = _number(given)
        if after is None:
            message = f"after: expected a request id (a whole number), got {given!r}"
            return PlainTextResponse(message, 400)
        rows = await console.read(lambda ws: request_log.recent(ws, after=after, limit=PAGE + 1))
        shown = [_request(entry) for entry in rows[:PAGE]]
        # More arrived than a page: the newest are shown, and a row says where the rest are.
        gap = shown[-1]["id"] if len(rows) > PAGE else None
        response = console.templates.TemplateResponse(
            request, "_request_rows.html", {"requests": shown, "gap": gap}
        )
        response.headers["X-Newest"] = str(shown[0]["id"] if shown else after)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def one(request: Request) -> Response:
        number = request.path_params["number"]
        try:
            if number > LARGEST_ID:
                raise NotFoundError(f"no logged request {number}")
            entry = await console.read(lambda ws: request_log.get(ws, number))
        except NotFoundError as error:
            return console.page(request, "error.html", 404, message=str(error))
        return console.page(request, "request.html", r=_request(entry))

    return [
        Route("/requests", console.guarded(requests), methods=["GET"]),
        Route("/requests/feed", feed, methods=["GET"]),
        Route("/requests/{number:int}", console.guarded(one), methods=["GET"]),
    ]
