"""Rows in and out, for every resource: JSON as stored (one encoder for every write), the
row readers' guard (`loader`, which turns a row edited out of shape into one `DamagedRow`),
the checks the readers share, effects as stored, and lookups by key (a row's existence, its
integer id, the same key in another case)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from refcamp.clock import from_iso
from refcamp.errors import StateFileError
from refcamp.models import Effect

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def loads(text: str) -> Any:
    """Stored JSON back; most stored attributes and lists are empty, so those skip the parser."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return json.loads(text)


def dumps(value: Any) -> str:
    if not value and isinstance(value, dict | list):  # most attributes are empty
        return "{}" if isinstance(value, dict) else "[]"
    return _dumps(value)


# One encoder for every write: json.dumps given options builds a new encoder at each call, a
# third of the time a small value's encoding took.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class DamagedRow(StateFileError):
    """A row edited out of refcamp's shape; `problem` names it (db check lists it as is)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{problem}; `refcamp db check` lists what is wrong")


Loader = TypeVar("Loader", bound=Callable[[sqlite3.Row], Any])


def loader(what: str, key: str) -> Callable[[Loader], Loader]:
    """A row-to-model function that turns a row edited out of refcamp's shape (a cart that is
    not a list, a date that is not a date) into one clear StateFileError naming the row, instead
    of a TypeError deep in whatever read it. `refcamp db check` runs every row through these."""

    def wrap(load: Loader) -> Loader:
        def guarded(row: sqlite3.Row) -> Any:
            try:
                return load(row)
            except (TypeError, ValueError, KeyError, AttributeError) as error:
                problem = f"{what} {row[key]!r} in the state file is damaged ({error})"
                raise DamagedRow(problem) from None

        return guarded  # type: ignore[return-value]

    return wrap


def _time(text: Any) -> datetime | None:
    if text is not None and not isinstance(text, str):
        raise ValueError(f"{text!r} is not a time")
    return from_iso(text)


def _object(text: str) -> dict[str, Any]:
    value = loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{text[:40]!r} is not a JSON object")
    return value


def _list(text: str) -> list[Any]:
    value = loads(text)
    if not isinstance(value, list):
        raise ValueError(f"{text[:40]!r} is not a JSON array")
    return value


def _strings(text: str) -> tuple[str, ...]:
    value = _list(text)
    if not all(isinstance(v, str) for v in value):
        raise ValueError(f"{text[:40]!r} is not a list of strings")
    return tuple(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _effects(effects: Iterable[Effect]) -> str:
    """Effects as stored (a session's latest, a logged request's)."""
    return dumps(
        [
            [e.campaign_id, e.ruleset_id, e.rule_index, e.rule_name, e.effect_type, dict(e.props)]
            for e in effects
        ]
    )


def _effects_of(text: str) -> list[Effect]:
    return [
        Effect(campaign, ruleset, index, name, kind, props)
        for campaign, ruleset, index, name, kind, props in loads(text)
    ]


# LIMIT without a limit: SQLite's -1 is refused by PostgreSQL, and NULL by SQLite.
EVERY_ROW = 1 << 62


def exists(conn: Connection, table: str, key: str, value: str) -> bool:
    # table and key are refcamp's own constants, never user data.
    assert table in {"profiles", "sessions", "referrals", "coupons"} and key in {"id", "code"}
    sql = f"SELECT 1 FROM {table} WHERE {key} = ?"
    return conn.execute(sql, (value,)).fetchone() is not None


def same_but_case(conn: Connection, table: str, key: str, value: str) -> str | None:
    """The stored id or code that is `value` in upper or lower case, if there is one (what a
    lookup typed in the wrong case most likely meant). Two lookups by key, never a scan: a door
    may answer many requests for things that do not exist."""
    assert table in {"profiles", "sessions", "referrals", "coupons"} and key in {"id", "code"}
    for candidate in dict.fromkeys((value.upper(), value.lower())):
        if candidate != value and exists(conn, table, key, candidate):
            return candidate
    return None


def row_id(conn: Connection, table: str, key: str) -> int:
    """A profile's or session's row id: Talon.One's integer id of it."""
    # table is refcamp's own constant, never user data.
    assert table in {"profiles", "sessions"}
    row = conn.execute(f"SELECT rowid FROM {table} WHERE id = ?", (key,)).fetchone()
    return int(row[0]) if row else 0
