"""A replay file's lines as requests: JSON Lines parsed, routed by their path (routes.REPLAYED)
and validated by the same readers as the other doors, or the message saying why a line is not
one. Also the line numbers a log's progress keeps (LineSet). Pure: no I/O but the lines given."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from refcamp import json_text, payloads, routes
from refcamp.clock import parse_time
from refcamp.errors import InputError, RefcampError

MAX_LINE = 10_000_000  # bytes; a longer line is reported, not parsed
# What a line's path asks for (routes.REPLAYED), by the service call it makes.
KINDS = {routes.PROFILE: "profile", routes.SESSION: "session", routes.EVENT: "event"}


@dataclass(frozen=True)
class Request:
    line: int
    kind: str  # profile, session, event
    target: str | None  # the id in the path
    body: Any  # the validated body: a ProfileInput, SessionInput or EventInput
    dry: bool
    run_rules: bool
    now: datetime | None
    path: str = ""  # as the line gives it, for the request log


def _flag(query: dict[str, Any], name: str, line: int) -> bool | None:
    try:
        return routes.flag(query.get(name), name)
    except InputError as error:
        raise InputError(f"line {line}: {error}") from None


_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _decode(segment: str, line: int) -> str:
    """A path segment's percent-encoding decoded; a broken escape, or bytes that are not UTF-8,
    make the line bad (decoded leniently they would be another id: a literal %ZZ or U+FFFD)."""
    broken = _BROKEN_ESCAPE.search(segment)
    if broken:
        escape = segment[broken.start() : broken.start() + 3]
        raise InputError(f"line {line}: path: invalid percent-encoding {escape!r}")
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise InputError(
            f"line {line}: path: invalid percent-encoding {segment!r} (the bytes are not UTF-8)"
        ) from None


def parse(line: int, text: str) -> Request:
    """One line of a replay file as a request; InputError names the line and the problem."""
    try:
        record = json_text.strict_json(text)
    except json_text.TextError as error:  # a lone surrogate, named by its field
        raise InputError(f"line {line}: {error}") from None
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
    try:
        query: dict[str, Any] = dict(parse_qsl(url_query, errors="strict")) if url_query else {}
    except UnicodeDecodeError:
        raise InputError(f"line {line}: path: invalid percent-encoding in the query") from None
    extra = record.get("query", {})
    if not isinstance(extra, dict):
        raise InputError(f"line {line}: query: expected an object")
    query.update(extra)
    found = next(
        (
            (KINDS[endpoint], endpoint.method, m)
            for endpoint in routes.REPLAYED
            if (m := endpoint.pattern.match(url_path))
        ),
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
    target = _decode(match.group(1), line) if match.groups() else None
    dry = bool(_flag(query, "dry", line))
    # Talon.One runs the rules on a profile update only when asked (runRuleEngine=true).
    run_rules = bool(_flag(query, "runRuleEngine", line))
    moment = parse_time(now, f"line {line}: now") if now is not None else None
    body = record.get("body", {})
    if kind == "profile":
        body = payloads.read_profile_body(body)
    elif kind == "session":
        body = payloads.read_session_body(body)
    else:
        body = payloads.read_event_body(body)
    return Request(line, kind, target, body, dry, run_rules, moment, raw_path)


def failure(line: int, error: BaseException) -> str:
    """What a failed line says: a RefcampError is the input's fault; anything else is refcamp's,
    and is said so."""
    message = (
        str(error)
        if isinstance(error, RefcampError)
        else f"internal error: {type(error).__name__}: {error}"
    )
    return message if message.startswith(f"line {line}") else f"line {line}: {message}"


# A line read: its request, why it is not one (a message), or None when an earlier replay of
# the same log applied it. Line number 0 is no line: the reader has had nothing new for a while.
Item = tuple[int, Request | str | None]
IDLE: Item = (0, None)
# Given how many lines are done and which of them to retry, the file's items.
Reader = Callable[[int, "LineSet"], Iterator[Item]]


def read(line: int, text: str | None) -> Request:
    if text is None:
        raise InputError(f"line {line}: not UTF-8")
    if len(text) > MAX_LINE:
        raise InputError(f"line {line}: longer than {MAX_LINE} bytes")
    return parse(line, text)


class LineSet:
    """Line numbers as sorted, disjoint ranges [first, last]: what a log's progress keeps of its
    failed lines. A replay adds lines in file order, so adding costs O(1); everything else costs
    O(ranges), and a log whose every line failed is a single range."""

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self.ranges = [[first, last] for first, last in ranges]

    @classmethod
    def parse(cls, text: str) -> LineSet:
        """From "3-5,9", as the state file keeps it; anything else is no line."""
        ranges = []
        try:
            for part in filter(None, text.split(",")):
                first, _, last = part.partition("-")
                a = int(first)
                b = int(last) if last else a
                if a < 1 or b < a:
                    return cls()
                ranges.append([a, b])
        except ValueError:
            return cls()
        return cls((a, b) for a, b in cls.merged(ranges))

    def text(self) -> str:
        return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in self.ranges)

    def _index(self, n: int) -> int:
        """The index of the last range starting at or before n (-1: none)."""
        return bisect.bisect_right(self.ranges, [n, float("inf")]) - 1

    def __contains__(self, n: object) -> bool:
        if not isinstance(n, int):
            return False
        i = self._index(n)
        return i >= 0 and self.ranges[i][1] >= n

    def add(self, n: int) -> None:
        if self.ranges and self.ranges[-1][1] + 1 == n:
            self.ranges[-1][1] = n  # the usual case: the next line failed too
        elif not self.ranges or self.ranges[-1][1] + 1 < n:
            self.ranges.append([n, n])
        elif n not in self:
            self.ranges = LineSet.merged([*self.ranges, [n, n]])

    def discard(self, n: int) -> None:
        i = self._index(n)
        if i < 0 or self.ranges[i][1] < n:
            return
        first, last = self.ranges[i]
        parts = [[first, n - 1]] if first < n else []
        parts += [[n + 1, last]] if n < last else []
        self.ranges[i : i + 1] = parts

    @staticmethod
    def merged(ranges: list[list[int]]) -> list[list[int]]:
        out: list[list[int]] = []
        for first, last in sorted(ranges):
            if out and first <= out[-1][1] + 1:
                out[-1][1] = max(out[-1][1], last)
            else:
                out.append([first, last])
        return out

    def upto(self, n: int) -> LineSet:
        """The lines up to n."""
        return LineSet((a, min(b, n)) for a, b in self.ranges if a <= n)

    def copy(self) -> LineSet:
        return LineSet((a, b) for a, b in self.ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LineSet) and self.ranges == other.ranges

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return bool(self.ranges)


NO_LINES = LineSet()


def requests(
    lines: Iterable[tuple[int, str | None]], done: int = 0, retry: LineSet = NO_LINES
) -> Iterator[Item]:
    """Each numbered line as a request, or why it is not one; lines up to `done` are skipped
    unread, except those to `retry` (they failed before)."""
    for number, text in lines:
        if number == 0:
            yield IDLE
            continue
        if number <= done and number not in retry:
            yield number, None
            continue
        try:
            yield number, read(number, text)
        except Exception as error:
            yield number, failure(number, error)


def numbered(lines: Iterable[bytes | None]) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for each non-blank line; text None when it is not UTF-8. A None line
    (nothing new for a while) is passed on as line 0."""
    number = 0
    for raw in lines:
        if raw is None:
            yield 0, None
            continue
        number += 1
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def unreadable(path: Path | str, error: OSError) -> InputError:
    return InputError(f"replay file {path}: {error.strerror or error}")
