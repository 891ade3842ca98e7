"""Forecasting: run the chosen campaigns over a synthetic population in a scratch database.

A discrete-event simulation with a seeded generator: customers register over the days; some are
advocates whose codes bring friends, who register and order with the code; every customer orders
once, using any coupon a rule gave them; some orders are cancelled a day later. Every step is a
real request through the service, so the figures are what refcamp itself would do. The same seed
(and the same start) gives the same report.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from refcamp import codes, service, talon
from refcamp.engine.effects import CreateReferralCode
from refcamp.errors import InputError, NotFoundError, StateFileError
from refcamp.models import CartItem
from refcamp.paths import DatabaseUrl, Location
from refcamp.payloads import ProfileInput, SessionInput

DAY = timedelta(days=1)
# A simulation estimated to make more requests than this runs only with --yes: at the rate below
# (about what a small machine manages) that is some four minutes; the largest inputs the bounds
# allow would take hours, and hold every scheduled friend in memory.
UNCONFIRMED_REQUESTS = 1_000_000
REQUESTS_PER_SECOND = 4_000


@dataclass(frozen=True)
class Population:
    customers: int = 1000
    days: int = 30
    referral_rate: float = 0.3  # share of customers who share their referral code
    friends_per_advocate: float = 1.0  # mean friends each advocate brings (Poisson)
    cancel_rate: float = 0.05  # share of orders cancelled a day later
    basket_mean: float = 50.0  # mean order total (exponential)
    seed: int = 1

    def check(self) -> None:
        if not 1 <= self.customers <= 1_000_000:
            raise InputError(f"--customers: 1 to 1000000, got {self.customers}")
        if not 1 <= self.days <= 3650:
            raise InputError(f"--days: 1 to 3650, got {self.days}")
        for name, value in (
            ("--referral-rate", self.referral_rate),
            ("--cancel-rate", self.cancel_rate),
        ):
            if not 0 <= value <= 1:
                raise InputError(f"{name}: a share from 0 to 1, got {value}")
        if not 0 <= self.friends_per_advocate <= 100:
            raise InputError(f"--friends-per-advocate: 0 to 100, got {self.friends_per_advocate}")
        if not 0 < self.basket_mean <= 1_000_000:
            raise InputError(f"--basket-mean: more than 0, got {self.basket_mean}")

    def requests(self, codes_per_customer: int) -> int:
        """About how many requests a run makes: every customer and every friend registers and
        orders, a share of the orders is cancelled. Friends come per referral code an advocate
        gets (`codes_per_customer`); those who would come after the last day are counted too,
        so this errs high."""
        friends = self.customers * self.referral_rate * self.friends_per_advocate
        people = self.customers + friends * codes_per_customer
        return round(people * (2 + self.cancel_rate))

    def confirm(self, codes_per_customer: int) -> None:
        """Refuse, unless confirmed, a run estimated to take long: exit 2 with the estimate and
        how to go on (never a prompt, which would hang a script)."""
        count = self.requests(codes_per_customer)
        if count <= UNCONFIRMED_REQUESTS:
            return
        seconds = count / REQUESTS_PER_SECOND
        took = f"{seconds / 3600:.1f} hours" if seconds >= 3600 else f"{seconds / 60:.0f} minutes"
        raise InputError(
            f"this simulation makes about {count:,} requests (some {took} at "
            f"{REQUESTS_PER_SECOND:,} requests/s): pass --yes to run it, or lower --customers, "
            "--referral-rate or --friends-per-advocate"
        )


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means used here."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# Where the simulation is in its days (simulated, a float) and how many requests it made; at the
# end, once more with the last day and None (the requests are then all made).
Tick = Callable[[float, int | None], None]


@dataclass
class _Run:
    """One simulation's moving parts: the seeded generator, the queue of scheduled events (when,
    serial, kind, data) and the counts of the requests made."""

    ws: Any
    population: Population
    end: datetime
    rng: random.Random
    queue: list[tuple[datetime, int, str, tuple[Any, ...]]] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"registrations": 0, "orders": 0, "cancellations": 0}
    )
    serial: int = 0
    friends: int = 0

    def schedule(self, when: datetime, kind: str, *data: Any) -> None:
        if when < self.end:
            self.serial += 1
            heapq.heappush(self.queue, (when, self.serial, kind, data))

    def register(self, when: datetime, customer: str, may_refer: bool) -> None:
        response = service.update_profile(self.ws, customer, ProfileInput())
        self.counts["registrations"] += 1
        coupons = tuple(c.code for c in response.created_coupons)
        if may_refer and self.rng.random() < self.population.referral_rate:
            for referral in response.created_referrals:
                for _ in range(poisson(self.rng, self.population.friends_per_advocate)):
                    friend = f"SIM-F{self.friends}"
                    self.friends += 1
                    when_friend = when + self.rng.random() * 3 * DAY
                    self.schedule(when_friend, "friend", friend, referral.code)
        if not customer.startswith("SIM-F"):
            self.schedule(when + self.rng.random() * 7 * DAY, "order", customer, None, coupons)

    def friend(self, when: datetime, friend: str, code: str) -> None:
        response = service.update_profile(self.ws, friend, ProfileInput())
        self.counts["registrations"] += 1
        coupons = tuple(c.code for c in response.created_coupons)
        self.schedule(when + self.rng.random() * DAY, "order", friend, code, coupons)

    def order(
        self, when: datetime, customer: str, code: str | None, coupons: tuple[str, ...]
    ) -> None:
        session_id = f"SIM-S{self.counts['orders']}"
        total = round(self.rng.expovariate(1 / self.population.basket_mean), 2)
        request = SessionInput(
            profile_id=customer,
            state="closed",
            referral_code=code,
            coupon_codes=coupons,
            cart_items=(CartItem(sku="SIM-1", quantity=1, name="Basket", price=total),),
        )
        service.update_session(self.ws, session_id, request)
        self.counts["orders"] += 1
        if self.rng.random() < self.population.cancel_rate:
            self.schedule(when + DAY, "cancel", session_id)

    def cancel(self, when: datetime, session_id: str) -> None:
        service.cancel_session(self.ws, session_id)
        self.counts["cancellations"] += 1


def run(
    ws: Any, population: Population, start: datetime, tick: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Simulate into the workspace's database; returns counts of the requests made. `tick` is
    told the requests made and those made plus scheduled, after each."""
    sim = _Run(ws, population, start + population.days * DAY, random.Random(population.seed))
    steps = {"register": sim.register, "friend": sim.friend, "order": sim.order}
    for n in range(population.customers):
        sim.schedule(
            start + sim.rng.random() * population.days * DAY, "register", f"SIM-C{n}", True
        )
    done = 0
    with ws.batches() as commit:
        while sim.queue:
            when, _, kind, data = heapq.heappop(sim.queue)
            ws.at(when)
            steps.get(kind, sim.cancel)(when, *data)
            done += 1
            commit()
            if tick:
                tick(done, done + len(sim.queue))
    return sim.counts


# --- the forecast: which campaigns, in a scratch database, and the report ----------------------


def plan(
    ws: Any, population: Population, asked: list[str], point_value: float, into: Location | None,
    yes: bool,
) -> list[str]:  # fmt: skip
    """The campaigns to simulate, refusing first what would fail after minutes of simulating:
    bad figures, campaigns that do not exist or none to simulate, a long run not confirmed
    (`yes`), an `into` that is the state file or exists.

    The campaigns are those asked for, else those enabled in the state file (its word wins over
    the TOML's), which is only read."""
    population.check()
    if point_value < 0:
        raise InputError(f"--point-value: must not be negative, got {point_value}")
    catalog = ws.catalog
    chosen = list(dict.fromkeys(asked))
    for campaign_id in chosen:
        service.find_campaign(catalog, campaign_id)
    if not chosen:
        states = service.states_in(ws.db_path)
        chosen = [c.id for c in catalog.campaigns if states.get(c.id, c.state) == "enabled"]
    if not chosen:
        raise NotFoundError(
            "no campaign to simulate: activate one (refcamp campaign activate ID) or pass "
            "--campaign ID"
        )
    if not yes:
        population.confirm(_codes_per_customer(catalog, chosen))
    if into is not None:
        _check_into(into, ws.db_path)
    return chosen


def _codes_per_customer(catalog: Any, chosen: list[str]) -> int:
    return sum(
        isinstance(effect, CreateReferralCode)
        for c in catalog.campaigns
        if c.id in chosen
        for rule in c.rules
        for effect in rule.then
    )


def forecast(
    outer: Any,
    population: Population,
    chosen: list[str],
    point_value: float,
    into: Path | None = None,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """Simulate `chosen` (see plan) from midnight UTC of the workspace's now, in a scratch
    database (the state file is only ever read), keeping it in the new file `into` if given;
    returns the report, in camelCase as --json shows it."""
    start = outer.now.replace(hour=0, minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="refcamp-simulate-") as scratch:
        target = Path(scratch) / "simulate.db"
        ws = service.Workspace(outer.settings.but(db=target))
        ws.codes = codes.Codes(f"simulate-{population.seed}")  # reproducible, whatever the seed
        try:
            for c in outer.catalog.campaigns:
                service.set_campaign_state(ws, c.id, "enabled" if c.id in chosen else "disabled")
            counts = run(ws, population, start, _days(ws, start, tick))
            if tick is not None:
                tick(population.days, None)
            figures = [
                talon.campaign_stats(service.campaign_stats(ws, c, point_value)) for c in chosen
            ]
            if into is not None:  # all of it in the file itself, none left in the -wal
                ws.checkpoint()
        finally:
            ws.close()
        if into is not None:
            _keep(target, into)
    return _report(population, start, counts, figures)


def _days(ws: Any, start: datetime, tick: Tick | None) -> Callable[[int, int], None] | None:
    """run's tick as the days simulated: the simulated clock, which each request sets."""
    if tick is None:
        return None
    return lambda done, _scheduled: tick((ws.now - start) / DAY, done)


def _report(
    population: Population, start: datetime, counts: dict[str, int], figures: list[dict[str, Any]]
) -> dict[str, Any]:
    by_day: dict[str, int] = {}
    for f in figures:
        for day in f["pointsByDay"]:
            by_day[day["day"]] = by_day.get(day["day"], 0) + day["points"]
    return {
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


def _check_into(into: Location, state_file: Location) -> None:
    """--into names a new file, never the state file: refuse before simulating for minutes."""
    if isinstance(into, DatabaseUrl):
        raise InputError(
            "--into: a simulation is kept only in a new SQLite file; `refcamp db copy FILE URL` "
            "then puts it into a PostgreSQL database"
        )
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
