"""The request log: the newest requests from every door, bounded; what an erasure drops."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from refcamp.clock import iso
from refcamp.models import LoggedRequest
from refcamp.store.queries.rows import _effects, _effects_of, _object, _time, dumps, loader

if TYPE_CHECKING:
    from refcamp.store.connection import Connection


def log_requests(conn: Connection, entries: Iterable[LoggedRequest], keep: int) -> None:
    """Append requests to the log, then drop all but the newest `keep` (ids only grow, and only
    the oldest are dropped, so the newest `keep` are the last `keep` ids: a range delete)."""
    rows = [
        (
            e.door,
            iso(e.time),
            e.method,
            e.path,
            e.status,
            e.profile_id,
            e.session_id,
            _effects(e.effects),
            None if e.explanation is None else dumps(dict(e.explanation)),
            e.message,
        )
        for e in entries
    ]
    if not rows:
        return
    conn.executemany(
        "INSERT INTO requests (door, time, method, path, status, profile_id, session_id, "
        "effects, explanation, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("DELETE FROM requests WHERE id <= (SELECT max(id) FROM requests) - ?", (keep,))


def forget_requests(conn: Connection) -> None:
    """Drop every logged request (a log turned off)."""
    conn.execute("DELETE FROM requests")


def request_texts(
    conn: Connection,
) -> Iterator[tuple[int, str, str | None, str | None, tuple[str, ...]]]:
    """Every logged request as stored: (id, path, profile id, session id, (effects, explanation,
    message) as text), for an erasure to find those that name a customer."""
    rows = conn.execute(
        "SELECT id, path, profile_id, session_id, effects, explanation, message FROM requests"
    )
    for number, path, profile_id, session_id, *texts in rows.fetchall():
        yield number, path, profile_id, session_id, tuple(t for t in texts if t)


def drop_requests(conn: Connection, numbers: Sequence[int]) -> None:
    conn.executemany("DELETE FROM requests WHERE id = ?", [(n,) for n in numbers])


def customer_keys(conn: Connection, profile_id: str) -> tuple[list[str], list[str]]:
    """The ids of a customer's sessions, and the referral codes and coupons they hold."""
    sessions = conn.execute("SELECT id FROM sessions WHERE profile_id = ?", (profile_id,))
    codes = conn.execute(
        "SELECT code FROM referrals WHERE advocate_id = ?1 "
        "UNION SELECT code FROM coupons WHERE recipient_id = ?1",
        (profile_id,),
    )
    return [row[0] for row in sessions.fetchall()], [row[0] for row in codes.fetchall()]


def logged_requests(
    conn: Connection, after: int = 0, before: int | None = None, limit: int = 50
) -> list[LoggedRequest]:
    """The newest logged requests first: those after id `after` and before id `before`."""
    rows = conn.execute(
        "SELECT * FROM requests WHERE id > ?1 AND (CAST(?2 AS BIGINT) IS NULL OR id < ?2) "
        "ORDER BY id DESC "
        "LIMIT ?3",
        (after, before, limit),
    )
    return [_logged(row) for row in rows]


def logged_request(conn: Connection, number: int) -> LoggedRequest | None:
    row = conn.execute("SELECT * FROM requests WHERE id = ?", (number,)).fetchone()
    return _logged(row) if row else None


@loader("logged request", "id")
def _logged(row: sqlite3.Row) -> LoggedRequest:
    explanation = row["explanation"]
    return LoggedRequest(
        door=row["door"],
        time=_time(row["time"]),
        method=row["method"],
        path=row["path"],
        status=row["status"],
        profile_id=row["profile_id"],
        session_id=row["session_id"],
        effects=tuple(_effects_of(row["effects"])),
        explanation=None if explanation is None else _object(explanation),
        message=row["message"],
        id=row["id"],
    )
