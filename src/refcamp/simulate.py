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
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from refcamp.errors import InputError

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


def run(
    ws: Any, population: Population, start: datetime, tick: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Simulate into the workspace's database; returns counts of the requests made."""
    from refcamp import service
    from refcamp.models import CartItem
    from refcamp.payloads import ProfileInput, SessionInput
    from refcamp.store.db import batches

    rng = random.Random(population.seed)
    end = start + population.days * DAY
    queue: list[tuple[datetime, int, str, tuple[Any, ...]]] = []
    serial = 0

    def schedule(when: datetime, kind: str, *data: Any) -> None:
        nonlocal serial
        if when < end:
            serial += 1
            heapq.heappush(queue, (when, serial, kind, data))

    for n in range(population.customers):
        schedule(start + rng.random() * population.days * DAY, "register", f"SIM-C{n}", True)
    counts = {"registrations": 0, "orders": 0, "cancellations": 0}
    friends = 0
    done = 0
    with batches(ws.conn) as commit:
        while queue:
            when, _, kind, data = heapq.heappop(queue)
            ws.at(when)
            if kind == "register":
                customer, may_refer = data
                response = service.update_profile(ws, customer, ProfileInput())
                counts["registrations"] += 1
                coupons = tuple(c.code for c in response.created_coupons)
                if may_refer and rng.random() < population.referral_rate:
                    for referral in response.created_referrals:
                        for _ in range(poisson(rng, population.friends_per_advocate)):
                            friend = f"SIM-F{friends}"
                            friends += 1
                            schedule(when + rng.random() * 3 * DAY, "friend", friend, referral.code)
                if not customer.startswith("SIM-F"):
                    schedule(when + rng.random() * 7 * DAY, "order", customer, None, coupons)
            elif kind == "friend":
                friend, code = data
                response = service.update_profile(ws, friend, ProfileInput())
                counts["registrations"] += 1
                coupons = tuple(c.code for c in response.created_coupons)
                schedule(when + rng.random() * DAY, "order", friend, code, coupons)
            elif kind == "order":
                customer, code, coupons = data
                session_id = f"SIM-S{counts['orders']}"
                total = round(rng.expovariate(1 / population.basket_mean), 2)
                request = SessionInput(
                    profile_id=customer,
                    state="closed",
                    referral_code=code,
                    coupon_codes=coupons,
                    cart_items=(CartItem(sku="SIM-1", quantity=1, name="Basket", price=total),),
                )
                service.update_session(ws, session_id, request)
                counts["orders"] += 1
                if rng.random() < population.cancel_rate:
                    schedule(when + DAY, "cancel", session_id)
            else:
                service.cancel_session(ws, data[0])
                counts["cancellations"] += 1
            done += 1
            commit()
            if tick:
                tick(done, done + len(queue))
    return counts
