"""The request log: the newest requests from every door (HTTP, CLI, replay), what each did and
why, for the console. Bounded: only the newest rows stay (settings.Settings.request_log:
REFCAMP_REQUEST_LOG, default 1000; 0 keeps none). Each door shapes its entries (talon.log_entry)
and records them here: the HTTP door and replay inside the transaction that commits their
requests, a command in one of its own right after its request.

Erasing a customer (`forget`) drops every entry that names them, in whatever form: their
integration id in a path (percent-encoded or not), a message, an explanation or an effect, and
every entry of one of their sessions or about one of their codes. A door drops the entries it has
shaped but not yet recorded the same way (`Erased.names`). The erasure request itself is logged
without the id (ERASURE_PATH): a log that kept it would undo what it asked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from refcamp import routes
from refcamp.errors import DatabaseError, NotFoundError
from refcamp.models import LoggedRequest
from refcamp.service.workspace import Workspace
from refcamp.store import queries
from refcamp.store.db import transaction

# How the request log shows an erasure (DELETE /v1/customer_data/{id}) from any door: the id is
# the one thing it must not keep.
ERASURE_PATH = routes.ERASURE.path


@dataclass(frozen=True)
class Erased:
    """A customer whose data was erased: their integration id, the ids of their sessions and the
    referral codes and coupons they hold; no request log entry may name any of them any more."""

    profile_id: str
    sessions: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", mention(self.profile_id))

    def names(self, entry: LoggedRequest) -> bool:
        """Whether a logged request names the customer (checked on the values a door holds)."""
        texts = (entry.message or "", repr(entry.explanation), repr(entry.effects))
        return self.names_row(entry.path, entry.profile_id, entry.session_id, texts)

    def names_row(
        self, path: str, profile_id: str | None, session_id: str | None, texts: Iterable[str]
    ) -> bool:
        """Whether a request log row names the customer: theirs, of one of their sessions, with
        their id, a session's or a code's as a path segment, or with their id in any text (as
        typed, percent-encoded, or escaped as JSON and Python write it)."""
        if profile_id == self.profile_id or session_id in self.sessions:
            return True
        route = path.split("?", 1)[0]
        keys = {self.profile_id} | self.sessions | self.codes
        if any(unquote(segment) in keys for segment in route.split("/")):
            return True
        found = self._pattern.search
        return bool(found(path) or found(unquote(path)) or any(found(t) for t in texts if t))


def mention(text: str) -> re.Pattern[str]:
    """A pattern finding `text` wherever the request log may hold it: as it is, percent-encoded,
    and escaped as JSON (both ways) and Python's repr write it. A match inside a longer word does
    not count (erasing "P1" leaves "P10" alone); next to punctuation it does."""
    forms = {
        text,
        quote(text, safe=""),
        quote(text),
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        repr(text)[1:-1],
    }
    alternatives = []
    for form in sorted(forms, key=len, reverse=True):
        head = r"(?<!\w)" if re.match(r"\w", form[0]) else ""
        tail = r"(?!\w)" if re.match(r"\w", form[-1]) else ""
        alternatives.append(head + re.escape(form) + tail)
    return re.compile("|".join(alternatives))


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


def forget(ws: Workspace, erased: Erased) -> None:
    """Drop every logged request that names an erased customer, inside the erasure's
    transaction. The log is bounded, so this reads at most its size in rows."""
    doomed = [
        number
        for number, path, profile_id, session_id, texts in queries.request_texts(ws.conn)
        if erased.names_row(path, profile_id, session_id, texts)
    ]
    queries.drop_requests(ws.conn, doomed)


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
