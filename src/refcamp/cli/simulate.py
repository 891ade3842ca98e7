"""refcamp simulate: what a campaign will cost, before it runs."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from refcamp import codes, render, service
from refcamp.cli import guarded, output, workspace
from refcamp.cli.options import Json
from refcamp.engine.effects import CreateReferralCode
from refcamp.errors import InputError, NotFoundError, StateFileError
from refcamp.simulate import DAY, Population, run
from refcamp.store.db import read_only


def _states_in(path: Path) -> dict[str, str]:
    """Campaign states in the state file, read without writing it or anything beside it (none
    when there is no state file yet). A file refcamp would refuse is refused here too."""

    conn = read_only(path)
    if conn is None:
        return {}
    try:
        return dict(conn.execute("SELECT id, state FROM campaigns").fetchall())
    finally:
        conn.close()


def _check_into(into: Path, state_file: Path) -> None:
    """--into names a new file, never the state file: refuse before simulating for minutes."""

    if os.path.realpath(into) == os.path.realpath(state_file):
        raise InputError(f"--into: {into} is your state file; a simulation never writes it")
    if os.path.lexists(into):
        raise InputError(f"--into: {into} exists; refcamp keeps a simulation only in a new file")


def _keep(scratch: Path, into: Path) -> None:
    """Put the finished scratch database at `into` whole or not at all: copied beside it under a
    temporary name (mode 0600), then linked to its name, which fails rather than replace a file
    made there meanwhile."""

    try:
        into.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=into.parent, prefix=".refcamp-simulate-")
    except OSError as error:
        raise StateFileError(f"--into: cannot write in {into.parent}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as out, scratch.open("rb") as source:
            shutil.copyfileobj(source, out)
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, into)
    except FileExistsError:
        raise InputError(
            f"--into: {into} exists; refcamp keeps a simulation only in a new file"
        ) from None
    except OSError as error:
        raise StateFileError(f"--into: cannot write {into}: {error.strerror}") from None
    finally:
        os.unlink(temporary)


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
    into: Annotated[
        Path | None,
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
    population.check()
    if point_value < 0:
        raise InputError(f"--point-value: must not be negative, got {point_value}")
    catalog = outer.catalog
    chosen = list(dict.fromkeys(campaign or []))
    for campaign_id in chosen:
        service.find_campaign(catalog, campaign_id)
    if not chosen:
        states = _states_in(outer.db_path)  # the state file's word wins over the TOML's
        chosen = [c.id for c in catalog.campaigns if states.get(c.id, c.state) == "enabled"]
    if not chosen:
        raise NotFoundError(
            "no campaign to simulate: activate one (refcamp campaign activate ID) or pass "
            "--campaign ID"
        )
    referral_codes = sum(
        isinstance(effect, CreateReferralCode)
        for c in catalog.campaigns
        if c.id in chosen
        for rule in c.rules
        for effect in rule.then
    )
    if not yes:
        population.confirm(referral_codes)
    if into is not None:
        _check_into(into, outer.db_path)
    start = outer.now.replace(hour=0, minute=0, second=0, microsecond=0)
    codes.use_seed(f"simulate-{seed}")
    with tempfile.TemporaryDirectory(prefix="refcamp-simulate-") as scratch:
        # Always a scratch database: the user's state file (--db) is only ever read, above.
        target = Path(scratch) / "simulate.db"
        ws = service.Workspace(target, outer.campaigns_option, outer.now_option)
        try:
            for c in catalog.campaigns:
                service.set_campaign_state(ws, c.id, "enabled" if c.id in chosen else "disabled")
            counts = _run(ctx, ws, population, start, as_json)
            figures = [service.campaign_stats(ws, c, point_value) for c in chosen]
            if into is not None:  # all of it in the file itself, none left in the -wal
                ws.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            ws.close()
        if into is not None:
            _keep(target, into)
    by_day: dict[str, int] = {}
    for f in figures:
        for day in f["pointsByDay"]:
            by_day[day["day"]] = by_day.get(day["day"], 0) + day["points"]
    report: dict[str, Any] = {
        "population": {  # camelCase, as every other key of the report
            "customers": population.customers,
            "days": population.days,
            "referralRate": population.referral_rate,
            "friendsPerAdvocate": population.friends_per_advocate,
            "cancelRate": population.cancel_rate,
            "basketMean": population.basket_mean,
            "seed": population.seed,
        },
        "start": start.date().isoformat(),
        "requests": counts,
        "campaigns": figures,
        "pointsByDay": [{"day": d, "points": p} for d, p in sorted(by_day.items())],
    }
    if as_json:
        render.print_json(report)
        return
    friends = counts["registrations"] - population.customers  # every customer registers
    render.line(
        f"Simulated {population.customers} customers over {population.days} days from "
        f"{report['start']} (seed {seed}): {counts['registrations']} registrations "
        f"({population.customers} customers and {friends} friends they referred), "
        f"{counts['orders']} orders, {counts['cancellations']} cancellations."
    )
    for f in figures:
        render.stats(f)
    render.chart("Points issued per day", sorted(by_day.items()))


def _run(ctx: typer.Context, ws: Any, population: Any, start: Any, quiet: bool) -> dict[str, int]:
    """Run the simulation, with replay's kind of bar on a terminal: its total is the days
    simulated (fixed from the start; the requests are not known until friends are drawn), with
    the requests per second and the time left."""

    count = "day {task.completed:.0f}/{task.total:.0f}"
    with output(ctx).progress("simulate", population.days, count, shown=not quiet) as bar:
        if bar is None:
            return run(ws, population, start)

        def tick(done: int, _scheduled: int) -> None:
            day = (ws.now - start) / DAY  # the simulated clock: each request sets it
            bar.update(day, done)

        counts = run(ws, population, start, tick)
        bar.update(population.days, None, force=True)
        return counts
