"""Condition kinds. Each is a table with one discriminating key (`event`, `referral`, ...) and
registers itself in CONDITIONS, so a new kind needs no change to the engine's core or the loader.
"""

from __future__ import annotations

from typing import Any, ClassVar

from refcamp.engine.core import Check, Context
from refcamp.models import EVENTS
from refcamp.tables import TableReader, did_you_mean


class Condition:
    key: ClassVar[str]  # the discriminating key

    @classmethod
    def read(cls, reader: TableReader) -> Condition | None:
        raise NotImplementedError

    def check(self, context: Context) -> Check:
        raise NotImplementedError

    def words(self) -> str:
        raise NotImplementedError


CONDITIONS: dict[str, type[Condition]] = {}


def register(cls: type[Condition]) -> type[Condition]:
    CONDITIONS[cls.key] = cls
    return cls


def event_words(event: str) -> str:
    return EVENTS.get(event, f"event {event}")


@register
class EventCondition(Condition):
    """The request's event is NAME: a built-in (talon_session_closed, ...) or a custom event."""

    key = "event"

    def __init__(self, event: str) -> None:
        self.event = event

    @classmethod
    def read(cls, reader: TableReader) -> Condition | None:
        event = reader.text("event")
        if not isinstance(event, str):
            return None
        if event.startswith("talon_") and event not in EVENTS:
            reader.problem(
                "event", f"unknown built-in event {event!r}{did_you_mean(event, EVENTS)}"
            )
            return None
        return cls(event)

    def check(self, context: Context) -> Check:
        events = context.facts.events
        seen = ", ".join(events) if events else "no event"
        return Check(self.event in events, seen, self.event)

    def words(self) -> str:
        return event_words(self.event)


@register
class ReferralCondition(Condition):
    """The session carries a referral code that is valid for this campaign."""

    key = "referral"

    @classmethod
    def read(cls, reader: TableReader) -> Condition | None:
        value = reader.choice("referral", ["valid"])
        return cls() if value == "valid" else None

    def check(self, context: Context) -> Check:
        verdict = context.referral
        needed = "a valid referral code of this campaign"
        if verdict.code is None:
            return Check(False, "no referral code", needed)
        if verdict.valid_for(context.campaign.id):
            return Check(True, f"{verdict.code} (valid)", needed)
        if verdict.reason is None:
            return Check(False, f"{verdict.code} belongs to {verdict.campaign_id}", needed)
        return Check(False, f"{verdict.code}: {verdict.reason}", needed)

    def words(self) -> str:
        return "the referral code is valid"


def read_condition(table: Any, where: str, problems: list[str]) -> Condition | None:
    if not isinstance(table, dict):
        problems.append(f'{where}: a condition must be a table like {{ event = "..." }}')
        return None
    kinds = [key for key in table if key in CONDITIONS]
    if len(kinds) != 1:
        if kinds:
            problems.append(f"{where}: one condition per table, got {', '.join(kinds)}")
        else:
            first = next(iter(table), "")
            hint = did_you_mean(first, CONDITIONS) if first else ""
            problems.append(
                f"{where}: unknown condition{f' {first!r}' if first else ''}{hint}; "
                f"one of: {', '.join(CONDITIONS)}"
            )
        return None
    reader = TableReader(table, where, problems)
    condition = CONDITIONS[kinds[0]].read(reader)
    reader.done()
    return condition
