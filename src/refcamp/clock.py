"""The clock: real time, or the simulated "now" given with --now / REFCAMP_NOW (settings).

All times inside refcamp are timezone-aware UTC datetimes; they are stored and printed as ISO 8601
strings ending in "Z" so that text order is time order in SQLite.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from refcamp.errors import InputError


def parse_time(text: str, what: str = "time") -> datetime:
    """Parse an ISO 8601 time that carries a zone (a date alone means midnight UTC)."""
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{what}: {text!r} is not an ISO 8601 time (e.g. 2026-11-25T09:30:00Z)"
        ) from None
    if len(value) == 10:  # a plain date
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.tzinfo is None:
        raise InputError(f"{what}: {text!r} has no time zone (add Z or +01:00)")
    return in_utc(parsed, what, text)


def in_utc(moment: datetime, what: str, text: str | None = None) -> datetime:
    """A zoned time in UTC; one whose UTC date falls outside the years 1 to 9999 (0001-01-01T00:30
    at +01:00) is an input error, not an OverflowError."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        shown = repr(text) if text is not None else moment.isoformat()
        raise InputError(f"{what}: {shown} is outside the years 1 to 9999 in UTC") from None


def now(override: str | None = None, name: str = "--now") -> datetime:
    """The current time: the simulated time given (by the option or variable `name`), else the
    system clock.

    An empty --now or REFCAMP_NOW is an error, not the real clock: an empty shell variable must
    not turn a simulated time into today."""
    if override is not None:
        return parse_time(override, name)
    return datetime.now(UTC)


@lru_cache(maxsize=256)  # a request formats the same "now" many times
def iso(moment: datetime | None) -> str | None:
    """The stored and printed form of a time: UTC, milliseconds, "Z"."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text)  # Python 3.11 reads the "Z" itself


_DURATION = re.compile(r"^([0-9]+)([hHDWMY])$")  # [0-9]: \d also takes other scripts' digits
# At most a century: longer durations are mistakes, and they would run past year 9999.
_LONGEST = {"h": 24 * 36_525, "H": 24 * 36_525, "D": 36_525, "W": 5_218, "M": 1_200, "Y": 100}


def parse_duration(text: str) -> tuple[int, str]:
    """Parse a Talon.One duration such as 30D, 12M, 1Y, 2W or 12h into (count, unit).

    Raises ValueError with a sentence when the text is not a duration.
    """
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration (a positive number then h, D, W, M or Y)")
    count, unit = int(match.group(1)), match.group(2)
    if count > _LONGEST[unit]:
        raise ValueError(f"{text!r} is longer than 100 years")
    return count, unit


def add_duration(start: datetime, duration: str) -> datetime:
    """The time `duration` after `start`; months and years keep the day of month where they can.

    Raises InputError when the result would be past the year 9999: the time given (--now, a
    replay line's now, --starts) is too late for the durations the campaigns add to it."""
    count, unit = parse_duration(duration)
    try:
        if unit in "hH":
            return start + timedelta(hours=count)
        if unit == "D":
            return start + timedelta(days=count)
        if unit == "W":
            return start + timedelta(weeks=count)
        months = count if unit == "M" else 12 * count
        month_index = start.month - 1 + months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        if year > 9999:
            raise OverflowError
        day = start.day
        while True:
            try:
                return start.replace(year=year, month=month, day=day)
            except ValueError:  # 31 January + 1M: the last day of February
                day -= 1
    except OverflowError:
        raise InputError(f"{iso(start)} + {duration} is past the year 9999") from None
