"""Replaying recorded Integration API traffic: JSON Lines, one request per line.

Each line goes through the same service function as the matching command and is atomic on its own
(a savepoint); lines are committed in batches for speed, so a crash leaves whole requests only. The
file's progress is committed with each batch: a replay that was killed resumes after the last
committed line, and a file replayed twice applies nothing the second time.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from refcamp.clock import iso, parse_time
from refcamp.errors import InputError, RefcampError

BATCH_LINES = 2000
BATCH_SECONDS = 0.5
MAX_LINE = 10_000_000  # bytes; a longer line is reported, not parsed

PATHS = (
    ("profile", "PUT", re.compile(r"^/v2/customer_profiles/([^/]+)$")),
    ("session", "PUT", re.compile(r"^/v2/customer_sessions/([^/]+)$")),
    ("event", "POST", re.compile(r"^/v2/events$")),
)


@dataclass(frozen=True)
class Request:
    line: int
    kind: str  # profile, session, event
    target: str | None  # the id in the path
    body: Any
    dry: bool
    run_rules: bool
    now: datetime | None


def _flag(query: dict[str, Any], name: str, line: int) -> bool | None:
    value = query.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InputError(f"line {line}: query.{name}: expected true or false, got {value!r}")


def parse(line: int, text: str) -> Request:
    """One line of a replay file as a request; InputError names the line and the problem."""
    from refcamp.payloads import strict_json

    try:
        record = strict_json(text)
    except ValueError as error:
        raise InputError(f"line {line}: invalid JSON: {error}") from None
    if not isinstance(record, dict):
        raise InputError(f"line {line}: expected an object with path and body")
    raw_path = record.get("path")
    if not isinstance(raw_path, str):
        raise InputError(f"line {line}: path: expected a string like /v2/customer_sessions/ID")
    if raw_path.startswith("/") and "?" not in raw_path:  # the usual case, without urlsplit
        url_path, url_query = raw_path, ""
    else:
        try:
            url = urlsplit(raw_path)
        except ValueError as error:
            raise InputError(f"line {line}: path: {error}") from None
        url_path, url_query = url.path, url.query
    query: dict[str, Any] = dict(parse_qsl(url_query)) if url_query else {}
    extra = record.get("query", {})
    if not isinstance(extra, dict):
        raise InputError(f"line {line}: query: expected an object")
    query.update(extra)
    found = next(
        ((kind, method, m) for kind, method, pattern in PATHS if (m := pattern.match(url_path))),
        None,
    )
    if found is None:
        raise InputError(
            f"line {line}: path {url_path!r} is not one refcamp replays "
            "(/v2/customer_profiles/ID, /v2/customer_sessions/ID, /v2/events)"
        )
    kind, method, match = found
    given = record.get("method", method)
    if not isinstance(given, str) or given.upper() != method:
        raise InputError(f"line {line}: method {given!r}: {url_path} takes {method}")
    now = record.get("now")
    if now is not None and not isinstance(now, str):
        raise InputError(f"line {line}: now: expected an ISO 8601 string")
    target = unquote(match.group(1)) if match.groups() else None
    return Request(
        line=line,
        kind=kind,
        target=target,
        body=record.get("body", {}),
        dry=bool(_flag(query, "dry", line)),
        # Talon.One runs the rules on a profile update only when asked (runRuleEngine=true).
        run_rules=bool(_flag(query, "runRuleEngine", line)),
        now=parse_time(now, f"line {line}: now") if now is not None else None,
    )


def apply(ws: Any, request: Request) -> Any:
    """Carry out one request through the service, exactly as the matching command would."""
    from refcamp import payloads, service

    ws.at(request.now)
    if request.kind == "profile":
        body = payloads.read_profile_body(request.body)
        return service.update_profile(
            ws, request.target or "", body, run_rules=request.run_rules, dry_run=request.dry
        )
    if request.kind == "session":
        body = payloads.read_session_body(request.body)
        return service.update_session(ws, request.target, body, dry_run=request.dry)
    event = payloads.read_event_body(request.body)
    if not event.type:
        raise InputError("type: required")
    if not event.profile_id:
        raise InputError("profileId: required")
    return service.track_event(
        ws,
        event.type,
        event.profile_id,
        event.session_id,
        event.attributes,
        dry_run=request.dry,
        response_content=event.response_content,
    )


@dataclass
class Summary:
    requests: Counter[str] = field(default_factory=Counter)  # by kind
    effects: Counter[str] = field(default_factory=Counter)  # by effectType
    rejections: Counter[str] = field(default_factory=Counter)  # by rejectionReason
    failures: list[tuple[int, str]] = field(default_factory=list)
    failed: int = 0
    skipped: int = 0  # lines an earlier replay of the same file already applied
    seconds: float = 0.0

    @property
    def applied(self) -> int:
        return sum(self.requests.values())

    def record(self, kind: str, response: Any) -> None:
        self.requests[kind] += 1
        for effect in response.effects:
            self.effects[effect.effect_type] += 1
            reason = effect.props.get("rejectionReason")
            if reason:
                self.rejections[reason] += 1

    def fail(self, line: int, message: str) -> None:
        self.failed += 1
        if len(self.failures) < 1000:
            self.failures.append((line, message))

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "applied": self.applied,
            "failed": self.failed,
            "skipped": self.skipped,
            "effects": dict(self.effects),
            "rejections": dict(self.rejections),
            "failures": [{"line": n, "error": m} for n, m in self.failures],
            "seconds": round(self.seconds, 3),
            "requestsPerSecond": round(self.applied / self.seconds) if self.seconds else None,
        }


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for each non-blank line; text None when it is not UTF-8."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


Outcome = Callable[[int, Any, str | None], None]  # (line, response or None, error or None)


def run(
    ws: Any,
    lines: Iterable[tuple[int, str | None]],
    source: str,
    key: str | None,
    outcome: Outcome,
    stop_on_error: bool = False,
    tick: Callable[[int], None] | None = None,
) -> Summary:
    """Replay numbered lines into the workspace's database; `key` (a file fingerprint, or None
    for a stream) makes the replay resumable."""
    from refcamp.store import queries
    from refcamp.store.db import batches

    conn = ws.conn
    _ = ws.catalog  # a replay never runs on campaigns that do not validate
    summary = Summary()
    started = time.monotonic()
    done = queries.replay_progress(conn, key) if key else 0
    last = done

    def save_progress() -> None:
        if key and last > done:
            queries.save_replay_progress(conn, key, source, last, iso(ws.now))

    with batches(conn, BATCH_LINES, BATCH_SECONDS, save_progress) as after_request:
        for number, text in lines:
            if number <= done:
                summary.skipped += 1
                if tick:
                    tick(number)
                continue
            try:
                if text is None:
                    raise InputError(f"line {number}: not UTF-8")
                if len(text) > MAX_LINE:
                    raise InputError(f"line {number}: longer than {MAX_LINE} bytes")
                request = parse(number, text)
                response = apply(ws, request)
            except Exception as error:
                # The line's savepoint is rolled back: it changed nothing. A RefcampError is the
                # input's fault; anything else is refcamp's, and is said so.
                message = (
                    str(error)
                    if isinstance(error, RefcampError)
                    else (f"internal error: {type(error).__name__}: {error}")
                )
                if not message.startswith(f"line {number}"):
                    message = f"line {number}: {message}"
                summary.fail(number, message)
                outcome(number, None, message)
                if stop_on_error:
                    break
            else:
                summary.record(request.kind, response)
                outcome(number, response, None)
            last = number
            if tick:
                tick(number)
            after_request()
    summary.seconds = time.monotonic() - started
    return summary
