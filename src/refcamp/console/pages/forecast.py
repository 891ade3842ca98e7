"""Forecast: `refcamp simulate` in the browser — its parameters in a form (the CLI's defaults),
its report (population, requests, each campaign's cost figures) and its points per day as a
chart.

The simulation is the CLI's (refcamp.simulate.plan, then forecast): a scratch database of its
own, the state file only read. It runs in a worker thread (the event loop keeps answering the
API meanwhile) on a workspace of its own for the same state file, never on the server's
connection."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from refcamp import render, service
from refcamp import simulate as simulation
from refcamp.console import charts
from refcamp.errors import InputError, NotFoundError, RefcampError
from refcamp.simulate import Population


@dataclass(frozen=True)
class Field:
    name: str  # the query parameter, as the CLI's option without its dashes
    label: str
    default: float | int
    kind: type  # int or float
    step: str
    help: str


DEFAULTS = Population()
FIELDS = (
    Field("customers", "Customers", DEFAULTS.customers, int, "1", "Customers who register."),
    Field("days", "Days", DEFAULTS.days, int, "1", "Days simulated."),
    Field(
        "referral-rate",
        "Referral rate",
        DEFAULTS.referral_rate,
        float,
        "any",
        "Share of customers who share their code (0 to 1).",
    ),
    Field(
        "friends-per-advocate",
        "Friends per advocate",
        DEFAULTS.friends_per_advocate,
        float,
        "any",
        "Mean friends an advocate brings.",
    ),
    Field(
        "cancel-rate",
        "Cancel rate",
        DEFAULTS.cancel_rate,
        float,
        "any",
        "Share of orders cancelled a day later (0 to 1).",
    ),
    Field("basket-mean", "Basket mean", DEFAULTS.basket_mean, float, "any", "Mean order total."),
    Field("seed", "Seed", DEFAULTS.seed, int, "1", "Same seed, same report."),
    Field("point-value", "Point value", 0.01, float, "any", "What one point costs you."),
)


def _number(field: Field, text: str) -> float | int:
    """A form value as the CLI's option would take it; InputError names the option."""
    text = text.strip()
    if not text:
        return field.default
    try:
        value = field.kind(text)
    except ValueError:
        what = "a whole number" if field.kind is int else "a number"
        raise InputError(f"--{field.name}: {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"--{field.name}: a finite number, got {text!r}")
    return value


def _shown(value: float | int) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _campaign(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": figures["campaignId"],
        "name": figures["name"],
        "rows": [(label, str(value)) for label, value in render.stat_rows(figures)],
    }


def _report(report: dict[str, Any]) -> dict[str, Any]:
    people, counts = report["population"], report["requests"]
    friends = counts["registrations"] - people["customers"]  # every customer registers
    summary = (
        f"Simulated {people['customers']} customers over {people['days']} days from "
        f"{report['start']} (seed {people['seed']}): {counts['registrations']} registrations "
        f"({people['customers']} customers and {friends} friends they referred), "
        f"{counts['orders']} orders, {counts['cancellations']} cancellations."
    )
    points = [(day["day"], day["points"]) for day in report["pointsByDay"]]
    return {
        "summary": summary,
        "requests": [(name, count) for name, count in counts.items()],
        "campaigns": [_campaign(f) for f in report["campaigns"]],
        "chart": charts.bars(points) if points else None,
        "total_points": sum(p for _, p in points),
    }


def routes(console: Any) -> list[Route]:
    # One forecast at a time: each keeps a core busy, and the API must keep answering beside it.
    one_at_a_time = asyncio.Lock()

    async def forecast(request: Request) -> Response:
        query = request.query_params
        rows = await console.read(lambda ws: service.campaigns(ws))
        asked = query.getlist("campaign")
        running = "run" in query
        values = {f.name: query.get(f.name, _shown(f.default)) for f in FIELDS}
        campaigns = [
            {
                "id": c.id,
                "name": c.name,
                "state": state,
                "checked": c.id in asked if running else state == "enabled",
            }
            for c, state in rows
        ]
        context: dict[str, Any] = {
            "fields": FIELDS,
            "values": values,
            "campaigns": campaigns,
            "yes": "yes" in query,
            "report": None,
            "message": None,
            "chosen": [],
        }
        if not running:
            return console.page(request, "forecast.html", **context)
        try:
            numbers = {f.name: _number(f, values[f.name]) for f in FIELDS}
            population = Population(
                int(numbers["customers"]),
                int(numbers["days"]),
                float(numbers["referral-rate"]),
                float(numbers["friends-per-advocate"]),
                float(numbers["cancel-rate"]),
                float(numbers["basket-mean"]),
                int(numbers["seed"]),
            )
            point_value = float(numbers["point-value"])
            async with one_at_a_time:
                chosen, report = await asyncio.to_thread(
                    _simulate, console, population, asked, point_value, context["yes"]
                )
        except RefcampError as error:  # bad parameters: 400, the form as sent
            context["message"] = str(error)
            status = 400 if isinstance(error, (InputError, NotFoundError)) else 500
            return console.page(request, "forecast.html", status, **context)
        context["report"] = _report(report)
        context["chosen"] = chosen
        return console.page(request, "forecast.html", **context)

    return [Route("/forecast", console.guarded(forecast), methods=["GET"])]


def _simulate(
    console: Any, population: Population, asked: list[str], point_value: float, yes: bool
) -> tuple[list[str], dict[str, Any]]:
    """What `refcamp simulate` does, on a workspace of its own (closed after): the server's
    connection is never used from this thread."""
    ws = console.door.make_workspace()
    if console.door.catalog is not None:  # the campaigns the server serves (the last good ones)
        ws.use_catalog(console.door.catalog)
    try:
        chosen = simulation.plan(ws, population, asked, point_value, None, yes)
        return chosen, simulation.forecast(ws, population, chosen, point_value)
    finally:
        ws.close()
