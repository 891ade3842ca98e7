"""refcamp simulate: what a campaign will cost, before it runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from refcamp import paths, render
from refcamp import simulate as simulation
from refcamp.cli import guarded, output, workspace
from refcamp.cli.options import Json
from refcamp.simulate import Population


@guarded
def simulate(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option("--customers", help="Customers who register.")] = 1000,
    days: Annotated[int, typer.Option("--days", help="Days simulated.")] = 30,
    referral_rate: Annotated[
        float, typer.Option("--referral-rate", help="Share of customers who share their code.")
    ] = 0.3,
    friends_per_advocate: Annotated[
        float, typer.Option("--friends-per-advocate", help="Mean friends an advocate brings.")
    ] = 1.0,
    cancel_rate: Annotated[
        float, typer.Option("--cancel-rate", help="Share of orders cancelled a day later.")
    ] = 0.05,
    basket_mean: Annotated[float, typer.Option("--basket-mean", help="Mean order total.")] = 50.0,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same report.")] = 1,
    campaign: Annotated[
        list[str] | None,
        typer.Option(
            "--campaign",
            help="Simulate this campaign (repeatable; default: the "
            "campaigns enabled in your state file).",
            show_default=False,
        ),
    ] = None,
    point_value: Annotated[
        float, typer.Option("--point-value", help="What one point costs you.")
    ] = 0.01,
    # A string, not a Path: a Path folds postgresql:// to postgresql:/, so a URL given here
    # would not be recognised as one (paths.location tells them apart; plan refuses a URL).
    into: Annotated[
        str | None,
        typer.Option(
            "--into",
            help="Also keep the simulated state in this new file (never over an existing one).",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Run a simulation estimated to take long.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Forecast what campaigns will cost, over a synthetic population.

    Runs in a scratch database and never writes your state file (the global --db only says
    whose campaign states are read); --into keeps the simulated state in a new file. The
    simulation starts at midnight UTC of --now (or today): give --now for a report that repeats
    exactly."""
    outer = workspace(ctx)
    population = Population(
        customers, days, referral_rate, friends_per_advocate, cancel_rate, basket_mean, seed
    )
    into_at = paths.location(into) if into is not None else None
    chosen = simulation.plan(outer, population, campaign or [], point_value, into_at, yes)
    count = "day {task.completed:.0f}/{task.total:.0f}"
    with output(ctx).progress("simulate", days, count, shown=not as_json) as bar:
        report = simulation.forecast(
            outer, population, chosen, point_value, into_at, bar.update if bar else None
        )
    if as_json:
        render.print_json(report)
    else:
        _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    people, counts = report["population"], report["requests"]
    friends = counts["registrations"] - people["customers"]  # every customer registers
    render.line(
        f"Simulated {people['customers']} customers over {people['days']} days from "
        f"{report['start']} (seed {people['seed']}): {counts['registrations']} registrations "
        f"({people['customers']} customers and {friends} friends they referred), "
        f"{counts['orders']} orders, {counts['cancellations']} cancellations."
    )
    for f in report["campaigns"]:
        render.stats(f)
    points = [(day["day"], day["points"]) for day in report["pointsByDay"]]
    render.chart("Points issued per day", points)
