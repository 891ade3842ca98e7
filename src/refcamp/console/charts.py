"""The console's small charts, as numbers: the templates draw them as inline SVG. Nothing here
makes markup; labels are plain text the templates escape.

- a customer's balance over time: a step line of the current balance, computed with
  refcamp.loyalty's own rules (`balance` as of each moment something changed);
- a forecast's points per day: one bar per day, days without points included."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from refcamp.loyalty import balance
from refcamp.models import LedgerEntry

WIDTH, HEIGHT = 640, 150
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 28  # room for the axis labels
MOST_STEPS = 200  # a long ledger shows its newest changes


@dataclass
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    path: str = ""  # an SVG path of numbers only (M, H, V commands)
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)  # axis labels
    grid: list[float] = field(default_factory=list)  # y of the horizontal lines
    baseline: float = 0.0  # y of zero
    left: int = LEFT
    right: int = WIDTH - RIGHT
    note: str = ""


def _short(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def balance_over_time(entries: Sequence[LedgerEntry], now: datetime) -> list[tuple[datetime, int]]:
    """(moment, current balance as of then) at every moment one program's balance may change:
    an entry made, its points becoming active, expiring; up to `now`, which ends the line. Each
    value is refcamp.loyalty.balance's, so reversals, spending order and expiry follow the same
    rules as every balance refcamp shows."""
    moments = {now}
    for e in entries:
        for moment in (e.created, e.start_date, e.expiry_date):
            if moment is not None and moment <= now:
                moments.add(moment)
    ordered = sorted(moments)
    if len(ordered) > MOST_STEPS:
        ordered = ordered[-MOST_STEPS:]
    else:  # the line starts a little before the first entry, where the balance is still 0
        span = ordered[-1] - ordered[0]
        ordered.insert(0, ordered[0] - max(span / 20, timedelta(minutes=1)))
    return [(moment, balance(entries, moment).current) for moment in ordered]


def _scale(low: int, high: int) -> tuple[int, int]:
    """The value axis: from min(0, low) to a round top above `high`."""
    low = min(0, low)
    if high <= 0:
        return low, max(1, -low // 4)
    half = max(1, 10 ** (len(str(high)) - 1) // 2)  # round up to a half of high's magnitude
    return low, -(-high // half) * half


def steps(points: list[tuple[datetime, int]]) -> Chart:
    """A step line of `points` (value held until the next moment), time along x."""
    chart = Chart()
    if not points:
        return chart
    low, high = _scale(min(v for _, v in points), max(v for _, v in points))
    bottom, top = HEIGHT - BOTTOM, TOP
    first, last = points[0][0], points[-1][0]
    seconds = (last - first).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        return round(LEFT + (moment - first).total_seconds() / seconds * (chart.right - LEFT), 1)

    def y(value: int) -> float:
        return round(bottom - (value - low) / (high - low) * (bottom - top), 1)

    parts = [f"M {LEFT} {y(points[0][1])}"]
    for moment, value in points[1:]:
        parts.append(f"H {x(moment)} V {y(value)}")
    parts.append(f"H {chart.right}")
    chart.path = " ".join(parts)
    chart.baseline = y(0)
    chart.grid = sorted({y(low), y(0), y(high)})
    values = sorted({low, 0, high})
    chart.labels = [Label(LEFT - 6, y(v) + 4, f"{v:,}", "end") for v in values]
    chart.labels += [
        Label(LEFT, HEIGHT - 8, _short(first), "start"),
        Label(chart.right, HEIGHT - 8, _short(last), "end"),
    ]
    return chart


def bars(points: list[tuple[str, int]], unit: str = "points") -> Chart:
    """One bar per day from the first to the last day of `points` (ISO dates), days without a
    value at zero."""
    chart = Chart()
    if not points:
        return chart
    given = dict(points)
    first, last = date.fromisoformat(points[0][0]), date.fromisoformat(points[-1][0])
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    low, high = _scale(0, max(given.values()))
    bottom, top = HEIGHT - BOTTOM, TOP
    slot = (chart.right - LEFT) / len(days)
    gap = min(4.0, slot * 0.2)

    def y(value: int) -> float:
        return round(bottom - (value - low) / (high - low) * (bottom - top), 1)

    for n, day in enumerate(days):
        value = given.get(day, 0)
        chart.bars.append(
            Bar(
                round(LEFT + n * slot + gap / 2, 1),
                y(value),
                round(slot - gap, 1),
                round(bottom - y(value), 1),
                f"{day}: {value:,} {unit}",
            )
        )
    chart.baseline = y(0)
    chart.grid = sorted({y(low), y(high), y((low + high) // 2)})
    values = sorted({low, (low + high) // 2, high})
    chart.labels = [Label(LEFT - 6, y(v) + 4, f"{v:,}", "end") for v in values]
    every = max(1, -(-len(days) // 8))  # at most some 8 day labels
    for n in range(0, len(days), every):
        chart.labels.append(Label(round(LEFT + (n + 0.5) * slot, 1), HEIGHT - 8, days[n][5:]))
    return chart
