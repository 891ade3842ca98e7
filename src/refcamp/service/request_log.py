"""The request log: the newest requests from every door (HTTP, CLI, replay), what each did and
why, for the console. Bounded: only the newest rows stay (settings.Settings.request_log:
REFCAMP_REQUEST_LOG, default 1000; 0 keeps none). Each door shapes its entries (talon.log_entry)
and records them here: the HTTP door and replay inside the transaction that commits their
requests, a command in one of its own right after its request."""

from __future__ import annotations

from collections.abc import Sequence

from refcamp.errors import DatabaseError, NotFoundError
from refcamp.models import LoggedRequest
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import transaction


def record(ws: Workspace, entries: Sequence[LoggedRequest]) -> None:
    """Append entries, inside the open transaction (a door's batch or group)."""
    keep = ws.settings.request_log
    if keep == 0:
        queries.forget_requests(ws.conn)  # a log turned off shows nothing it kept before
    elif entries:
        queries.log_requests(ws.conn, entries[-keep:], keep)


def record_after(ws: Workspace, entry: LoggedRequest) -> None:
    """Append one command's entry in a transaction of its own, after its request committed: a
    state file locked meanwhile only costs the entry (said as a warning), never the request."""
    try:
        with transaction(ws.conn):
            record(ws, [entry])
    except DatabaseError as error:
        ws.warning(f"warning: the request was not logged for the console ({error})")


def recent(
    ws: Workspace, after: int = 0, before: int | None = None, limit: int = 50
) -> list[LoggedRequest]:
    """The newest logged requests first (those after id `after`, before id `before`)."""
    return queries.logged_requests(ws.stored, after, before, limit)


def get(ws: Workspace, number: int) -> LoggedRequest:
    entry = queries.logged_request(ws.stored, number)
    if entry is None:
        keeps = ws.settings.request_log
        raise NotFoundError(f"no logged request {number} (the log keeps the newest {keeps})")
    return entry
