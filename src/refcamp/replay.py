"""Replaying recorded Integration API traffic: JSON Lines, one request per line.

Each line goes through the same service function as the matching command and is atomic on its own
(a savepoint). Lines are committed in batches for speed; a batch commits together with its log's
progress and with the --out responses of its lines, or not at all, so a crash leaves whole
requests only and --out holds a response for exactly the lines committed.

What identifies a log, and how far it got: a log is known by its first request line (its first
non-blank line, without its line ending). Its progress is the number of lines applied and a
digest of those lines, each taken without its line ending, so CRLF and LF are the same line and a
missing final newline makes no other line. A file whose first lines are exactly the lines applied
from its log resumes after them: a log that grew applies only its new lines, and a log replayed
twice applies nothing the second time. A file that starts with a known log's first line but whose
applied lines changed (edited, truncated, or another log starting the same way) is refused rather
than applied again; `new_log` replays it as a log of its own. Two replays of one log at once
cannot both apply it: the progress a batch commits must be what that replay last saw.

A line that fails for its own fault (bad JSON, an unknown customer) is done, but kept as failed
with the progress (as ranges of line numbers: a log whose every line fails is one range); in the
digest it stands as a blank line, since it may be fixed before it is retried. A rerun retries
exactly those lines, in file order and before the lines after the progress (a fixed first line
changes the log's identity: the log is then found by its file name and its digest);
`start_over` applies every line again.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import io
import json
import os
import re
import select
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from refcamp import payloads, routes, service, talon
from refcamp.clock import parse_time
from refcamp.errors import DatabaseError, DatabaseIntegrity, InputError, RefcampError
from refcamp.service import replays, request_log
from refcamp.service.workspace import Workspace

BATCH_LINES = 2000
BATCH_SECONDS = 0.5
# A reader with nothing new for this long (a quiet stdin): the batch is committed, so the write
# lock is not held while waiting.
IDLE_SECONDS = 0.2
# Other writers: SQLite's busy handler retries a locked write every 100 ms once it has waited a
# third of a second, so a replay that commits and begins again at once can keep a command waiting
# until its 30 s timeout. A pause longer than that retry lets every waiting writer in. While
# nobody else writes, a pause comes every PAUSE_EVERY seconds (3% of a replay's time); after a
# pause in which others wrote, after every batch; a pause lasts while others keep writing, up to
# PAUSE_AT_MOST.
PAUSE_SECONDS = 0.15
PAUSE_EVERY = 5.0
PAUSE_AT_MOST = 1.0
# How often a replay's newest lines go to the request log (the console's live view).
LOG_SECONDS = 5.0
LIVE_LINES = 50  # lines held for the request log while a file is far from its end
MAX_LINE = 10_000_000  # bytes; a longer line is reported, not parsed
# A file with fewer lines left than this is read in the main process: a worker costs more to
# start than it saves. The worker sends its items in chunks of at most this many lines or bytes.
WORKER_LINES = 2000
_FORK = sys.platform == "linux"  # elsewhere the default, spawn: a worker imports refcamp anew
CHUNK_LINES = 500
CHUNK_BYTES = 1 << 20

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
        record = payloads.strict_json(text)
    except payloads.TextError as error:  # a lone surrogate, named by its field
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


def apply(ws: Any, request: Request) -> Any:
    """Carry out one request through the service, exactly as the matching command would."""
    ws.at(request.now)
    body = request.body
    if request.kind == "profile":
        return service.update_profile(
            ws, request.target or "", body, run_rules=request.run_rules, dry_run=request.dry
        )
    if request.kind == "session":
        return service.update_session(ws, request.target, body, dry_run=request.dry)
    return service.track_event(
        ws,
        body.type,
        body.profile_id,
        body.session_id,
        body.attributes,
        dry_run=request.dry,
        response_content=body.response_content,
    )


def _request_line(request: Request) -> tuple[str, str]:
    """The method and path a replayed line stands for, as the request log shows them."""
    method = next(e.method for e, kind in KINDS.items() if kind == request.kind)
    return method, request.path


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


@dataclass
class Summary:
    requests: Counter[str] = field(default_factory=Counter)  # by kind
    effects: Counter[str] = field(default_factory=Counter)  # by effectType
    rejections: Counter[str] = field(default_factory=Counter)  # by rejectionReason
    failures: list[tuple[int, str]] = field(default_factory=list)
    failed: int = 0
    skipped: int = 0  # lines an earlier replay of the same file already applied
    retried: list[int] = field(default_factory=list)  # lines that failed before, tried again
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

    def add(self, other: Summary) -> None:
        """Count a committed batch's lines in."""
        self.requests.update(other.requests)
        self.effects.update(other.effects)
        self.rejections.update(other.rejections)
        self.failures.extend(other.failures[: max(0, 1000 - len(self.failures))])
        self.failed += other.failed
        self.retried += other.retried

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "applied": self.applied,
            "failed": self.failed,
            "skipped": self.skipped,
            "retried": len(self.retried),
            "effects": dict(self.effects),
            "rejections": dict(self.rejections),
            "failures": [{"line": n, "error": m} for n, m in self.failures],
            "seconds": round(self.seconds, 3),
            "requestsPerSecond": round(self.applied / self.seconds) if self.seconds else None,
        }


def fingerprint(path: Path) -> tuple[str, int]:
    """The file's content hash (its key for resuming) and its line count, in one read."""
    digest = hashlib.sha256()
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), lines + (last != b"\n")  # a last line without a newline counts


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


def from_stream(stream: Any) -> Reader:
    return lambda done, retry=NO_LINES: requests(numbered(stream_lines(stream)), done, retry)


def stream_lines(stream: Any) -> Iterator[bytes | None]:
    """A stream's lines, and None whenever none has come for IDLE_SECONDS (a pipe written
    slowly), so the replay can commit instead of holding the write lock while it waits. A stream
    without a file descriptor (a test's) is read as it is."""
    try:
        fd = stream.fileno()
        select.select([fd], [], [], 0)
    except (OSError, ValueError, io.UnsupportedOperation):  # no descriptor, or not selectable
        yield from stream
        return
    parts: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], IDLE_SECONDS)
        if not ready:
            yield None
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        if b"\n" not in chunk:  # a long line arriving piece by piece is joined once
            parts.append(chunk)
            continue
        head, *lines, tail = chunk.split(b"\n")
        yield b"".join([*parts, head, b"\n"])
        for line in lines:
            yield line + b"\n"
        parts = [tail] if tail else []
    if parts:
        yield b"".join(parts)


def from_file(path: Path, total: int) -> Reader:
    """A file's items: read by a second process while this one applies them when the file is
    long and there is a second core, else read here."""

    def reader(done: int, retry: LineSet = NO_LINES) -> Iterator[Item]:
        # A worker started by spawn (macOS, Windows) imports refcamp anew: it pays off later.
        enough = WORKER_LINES if _FORK else 10 * WORKER_LINES
        if total - done >= enough and _cores() > 1:
            return in_worker(path, done, retry)
        return _in_process(path, done, retry)

    return reader


def _cores() -> int:
    """The cores this process may run on (fewer than the machine has, under taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _in_process(path: Path, done: int, retry: LineSet = NO_LINES) -> Iterator[Item]:
    try:
        handle = path.open("rb")
    except OSError as error:
        raise _unreadable(path, error) from None
    with handle:
        yield from requests(numbered(handle), done, retry)


def _unreadable(path: Path | str, error: OSError) -> InputError:
    return InputError(f"replay file {path}: {error.strerror or error}")


def in_worker(path: Path, done: int, retry: LineSet = NO_LINES) -> Iterator[Item]:
    """requests() of a file, read, parsed and validated by a second process: on two cores, the
    database never waits for the parsing (it is about a fifth of a request). The worker sends
    chunks of items down a pipe, whose size bounds how far ahead of the database it runs."""
    import multiprocessing  # only a replay of a file reads in a worker

    context = multiprocessing.get_context("fork" if _FORK else None)
    receive, send = context.Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # a forked copy of unwritten output would be written twice
            stream.flush()
    worker = context.Process(
        target=_work, args=(str(path), done, receive, send, retry), daemon=True
    )
    try:
        worker.start()
    except OSError:  # no process to be had (a container's limit): read the file here
        receive.close()
        send.close()
        yield from _in_process(path, done, retry)
        return
    send.close()  # the worker now holds the only writing end: its exit is this end's EOF
    try:
        while True:
            try:
                if not receive.poll(IDLE_SECONDS):
                    yield IDLE
                    continue
                chunk = receive.recv()
            except (EOFError, OSError):  # OSError: it died halfway through sending a chunk
                raise ReaderStopped(
                    f"the process reading {path} stopped unexpectedly (exit code "
                    f"{_exit_code(worker)})"
                ) from None
            if chunk is None:
                return
            if isinstance(chunk, RefcampError):
                raise chunk
            yield from chunk
    finally:
        receive.close()
        if worker.is_alive():
            worker.terminate()
        worker.join()


def _exit_code(worker: Any) -> Any:
    worker.join(1)
    return worker.exitcode


class ReaderStopped(RefcampError):
    """The process reading the file ahead died (killed, out of memory)."""


def _work(path: str, done: int, receive: Any, send: Any, retry: LineSet = NO_LINES) -> None:
    """The worker: every item of the file, in chunks, then None (or a message if it failed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the main process to handle
    receive.close()  # a forked copy; without it, a main process killed would never be noticed
    # Output is the main process's; these copies might even have been forked mid-write.
    sys.stdout = sys.stderr = None  # type: ignore[assignment]
    read_bytes = 0

    def counted(handle: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal read_bytes
        for raw in handle:
            read_bytes += len(raw)
            yield raw

    try:
        chunk: list[Item] = []
        with open(path, "rb") as handle:
            for item in requests(numbered(counted(handle)), done, retry):
                chunk.append(item)
                if len(chunk) >= CHUNK_LINES or read_bytes >= CHUNK_BYTES:
                    send.send(chunk)
                    chunk, read_bytes = [], 0
        send.send(chunk)
        send.send(None)
    except ConnectionError:
        pass  # the main process is gone, or stopped reading (EPIPE): nobody to tell
    except BaseException as error:
        failed = (
            _unreadable(path, error)
            if isinstance(error, OSError)
            else RefcampError(f"replay: reading the file failed: {type(error).__name__}: {error}")
        )
        with contextlib.suppress(ConnectionError):
            send.send(failed)
    finally:
        send.close()


# --- a file as a log ----------------------------------------------------------------------------


def _content(raw: bytes) -> bytes:
    """A line without its line ending: LF and CRLF files hold the same lines."""
    return raw.removesuffix(b"\n").removesuffix(b"\r")


class Log:
    """A replay file read as a log: its identity (from its first request line), its line count,
    the content hash an older refcamp knew it by, and the digest of its first n lines, read
    forward as the replay commits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.legacy, self.total = fingerprint(path)
            self._handle = path.open("rb")
        except OSError as error:
            raise _unreadable(path, error) from None
        first = next((raw for raw in self._handle if raw.strip()), b"")
        self.identity = hashlib.sha256(_content(first)).hexdigest()[:32]
        self._rewind()

    def _rewind(self) -> None:
        self._handle.seek(0)
        self._digest = hashlib.sha256()
        self.lines = 0
        self._failed = NO_LINES  # the lines read as blank

    def digest(self, lines: int, failed: LineSet = NO_LINES) -> str | None:
        """The digest of the first `lines` lines, those in `failed` taken as blank lines (a
        failed line may be fixed before it is retried); None if the file has fewer lines."""
        failed = failed.upto(lines)
        read = self.lines
        if lines < read or failed.upto(read) != self._failed.upto(read):
            self._rewind()  # a line read as it is must now be blank, or the other way round
        self._failed = failed
        try:
            while self.lines < lines:
                raw = self._handle.readline()
                if not raw:
                    return None
                self.lines += 1
                content = b"" if self.lines in failed else _content(raw)
                self._digest.update(content + b"\n")
        except OSError as error:
            raise _unreadable(self.path, error) from None
        return self._digest.hexdigest()

    def key(self, lines: int, failed: LineSet = NO_LINES) -> str:
        """What the state file knows the log's first `lines` lines by."""
        return f"{self.identity}:{self.digest(lines, failed)}"

    def close(self) -> None:
        self._handle.close()


@dataclass
class Progress:
    """Where a log stands in the state file: its lines done, the row that says so (None for a
    log new to it, or a stream), and every row of its log as read. A batch commits only if those
    rows are unchanged: another replay of the same log would have changed them."""

    done: int = 0
    key: str | None = None
    known: dict[str, int] = field(default_factory=dict)
    failed: LineSet = field(default_factory=LineSet)  # lines done that failed: to retry


def find_progress(ws: Workspace, log: Log, new_log: bool, start_over: bool = False) -> Progress:
    """How far earlier replays of the file's log got; refuses a log whose applied lines changed.
    `start_over`: from the first line, in place of the progress found."""
    rows = replays.logs(ws, log.identity)
    found = Progress(known={row[0]: row[2] for row in rows})
    for key, _, lines, _, text in rows:  # fewest lines first: the file is read forward once
        failed = LineSet.parse(text)
        if log.key(lines, failed) == key and lines >= found.done:
            found.done, found.key, found.failed = lines, key, failed
    if found.key is None:  # a failed first line fixed: the same file, the same digest
        for key, _, lines, _, text in replays.logs_from(ws, str(log.path)):
            failed = LineSet.parse(text)
            if key.endswith(f":{log.digest(lines, failed)}") and lines >= found.done:
                found.done, found.key, found.failed = lines, key, failed
                found.known[key] = lines
    legacy = replays.lines_done(ws, log.legacy)  # by an older refcamp: the file's hash
    if legacy > found.done:
        found.known[log.legacy] = legacy
        found.done, found.key, found.failed = legacy, log.legacy, LineSet()
    if found.key is None and rows and not (new_log or start_over):
        _, source, lines, updated, _ = rows[-1]
        raise InputError(
            f"replay file {log.path}: it starts as a log replayed before ({source}, {lines} "
            f"lines, last at {updated}) but its first {lines} lines are not that log's any more "
            "(edited, cut short, or another log starting with the same line), so refcamp cannot "
            "tell which of its lines were applied; to apply every line as a new log's, replay "
            "it with --new-log"
        )
    if start_over:  # the first commit replaces the progress found
        found.done, found.failed = 0, LineSet()
    log.digest(found.done, found.failed)  # the digest now stands where the replay resumes
    return found


# --- --out ---------------------------------------------------------------------------------------

_RECORD = re.compile(rb'\{"line": (\d+)[,}]')


class Out:
    """--out: one response per line, written and flushed with the batch that commits its line,
    taken back if the commit fails. A resumed replay keeps the responses of the lines committed
    before and drops any others (written just before a commit that a kill prevented)."""

    def __init__(self, path: Path, shape: Callable[[Any], dict[str, Any]]) -> None:
        self.path = path
        self.shape = shape  # a response as --json shows it
        self.pending: list[str] = []
        self.handle: Any = None
        self.size = 0

    def open(self, keep: int, retry: LineSet = NO_LINES) -> None:
        """Open for the lines after `keep` (0: a new file) and the lines to `retry`, whose
        records are taken out (their new ones come at the end)."""
        try:
            resume = keep > 0 and self.path.is_file()
            handle = self.path.open("r+b" if resume else "wb")
            if resume:
                handle.seek(_records_through(handle, keep))
                handle.truncate()
                if retry:
                    handle = self._without(handle, retry)
        except OSError as error:
            raise InputError(f"--out {self.path}: {error.strerror or error}") from None
        self.handle, self.size = handle, handle.tell()

    def _without(self, handle: Any, lines: frozenset[int]) -> Any:
        """The file without the records of `lines`, replaced at once (a crash leaves either)."""
        handle.seek(0)
        kept = []
        for raw in handle:
            found = _RECORD.match(raw)
            if found is None or int(found.group(1)) not in lines:
                kept.append(raw)
        handle.close()
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(b"".join(kept))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        handle = self.path.open("r+b")
        handle.seek(0, os.SEEK_END)
        return handle

    def add(self, line: int, response: Any, error: str | None) -> None:
        record = {"line": line, "error": error} if error else {"line": line, **self.shape(response)}
        self.pending.append(json.dumps(record, ensure_ascii=False) + "\n")

    def write(self) -> None:
        """Before the batch commits: its responses, on disk."""
        if self.pending:
            self.handle.write("".join(self.pending).encode())
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.pending.clear()

    def committed(self) -> None:
        self.size = self.handle.tell()

    def undo(self) -> None:
        """The batch was rolled back: so are its responses."""
        self.pending.clear()
        if self.handle is not None:
            with contextlib.suppress(OSError):
                self.handle.seek(self.size)
                self.handle.truncate()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _records_through(handle: Any, keep: int) -> int:
    """The length of the file's leading whole records of lines up to `keep`."""
    size = 0
    for raw in handle:
        found = _RECORD.match(raw)
        if not raw.endswith(b"\n") or found is None or int(found.group(1)) > keep:
            break
        size += len(raw)
    return size


# --- applying ------------------------------------------------------------------------------------


class Stopped(RefcampError):
    """The replay stopped before the end of its input. What it committed stays (`summary` counts
    it), and a rerun of a file resumes after it."""

    def __init__(self, message: str, summary: Summary, exit_code: int = 1) -> None:
        super().__init__(message)
        self.summary = summary
        self.exit_code = exit_code


class _Lost(Exception):
    """The batch in progress cannot be kept; the message says where and why."""


def _outside(error: BaseException) -> BaseException | None:
    """What made a request fail when it was not the request: the disk, the state file, memory.
    The deepest such error, since a failed rollback may hide the one that caused it."""
    if isinstance(error, RefcampError) and not _stops(error):
        return None
    found, seen = None, set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if _stops(cause):
            found = cause
        cause = cause.__cause__ or cause.__context__
    return found


def _stops(error: BaseException) -> bool:
    """Whether an error stops the replay (the state cannot be written), rather than failing one
    line: a constraint refusing a row is that line's own failure."""
    if isinstance(error, DatabaseError):
        return not isinstance(error, DatabaseIntegrity)
    return isinstance(error, OSError | MemoryError)


def _why(error: BaseException) -> str:
    if isinstance(error, DatabaseError):
        return error.why
    if getattr(error, "errno", None) == errno.ENOSPC:
        return "disk full"
    if isinstance(error, OSError):
        return f"I/O error ({error.strerror or error})"
    if isinstance(error, MemoryError):
        return "out of memory"
    return f"internal error: {type(error).__name__}: {error}"


class Turns:
    """Pauses after commits that let processes waiting to write to the state file in: every
    PAUSE_EVERY seconds, and after every batch while others have written during a pause in the
    last PAUSE_EVERY seconds (a shell loop of commands comes back for its next turn).

    Only SQLite needs them: its writers poll for the lock, so one that waits may never find it
    free. PostgreSQL queues lock requests: a writer waiting for the state's write lock gets it
    before this replay's next batch, without a pause (and its data_version cannot tell whether
    another wrote: it changes at every look, which made every batch pause)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.last = time.monotonic()  # the last pause
        self.others = -PAUSE_EVERY  # the last time others wrote during a pause

    def _version(self) -> int:
        return self.ws.data_version()

    def after_commit(self) -> None:
        if self.ws.on_server:
            return
        started = time.monotonic()
        if started - self.others >= PAUSE_EVERY and started - self.last < PAUSE_EVERY:
            return
        version = self._version()
        while True:
            time.sleep(PAUSE_SECONDS)
            latest = self._version()  # changes when another connection has committed
            if latest == version:
                break
            version, self.others = latest, time.monotonic()
            if self.others - started >= PAUSE_AT_MOST:
                break
        self.last = time.monotonic()


class _Replay:
    """One replay: the batch in progress, what is committed, and why it stopped early."""

    def __init__(
        self, ws: Any, source: str, log: Log | None, out: Out | None, progress: Progress
    ) -> None:
        self.ws = ws
        self.source, self.log, self.out, self.progress = source, log, out, progress
        self.summary = Summary()  # the committed lines
        self.batch = Summary()  # the lines of the open batch
        self.open = False  # a batch's transaction is open
        self.count, self.since = 0, 0.0
        self.last = progress.done  # the last line done (applied, or failed for its own fault)
        self.failed = progress.failed.copy()  # the lines done that failed
        self.committed = progress.done  # the last line committed
        self.turns = Turns(ws)
        # The newest applied lines not yet in the request log, shaped only every LOG_SECONDS
        # and at the end. Holding a line's response costs garbage collection (a thousand held
        # all along cost a replay a tenth of its rate), so a file's lines are held by the
        # thousand only near its end, where they are the log's newest; before that, only the
        # newest LIVE_LINES (what the console shows of a replay under way, and of one stopped
        # early).
        self.log_size = ws.settings.request_log
        self.logged: deque[tuple[Request, datetime, Any]] = deque(
            maxlen=min(LIVE_LINES, self.log_size)
        )
        self.log_from = log.total - self.log_size if log is not None else 0
        self.log_due = time.monotonic() + LOG_SECONDS
        self.reading = False  # waiting for the reader: no request is in progress
        self.interrupted = False
        self.reader_error: str | None = None

    def on_sigint(self, signum: int, frame: Any) -> None:
        """Ctrl-C stops the replay after the request in progress; while it waits for the reader
        there is none, so it stops at once."""
        self.interrupted = True
        if self.reading:
            raise KeyboardInterrupt

    def next(self, items: Iterator[Item]) -> Item | None:
        """The next item; None at the end of the input, or when the reader failed or Ctrl-C
        came while waiting for it (the lines before are whole, and are committed)."""
        self.reading = True
        try:
            return next(items)
        except StopIteration:
            return None
        except KeyboardInterrupt:
            self.interrupted = True
            return None
        except RefcampError as error:
            self.reader_error = str(error)
            return None
        except OSError as error:  # reading the file or stdin here (I/O error)
            self.reader_error = f"reading {self.source} failed: {error.strerror or error}"
            return None
        finally:
            self.reading = False

    def begin(self) -> None:
        self.ws.begin()
        self.open, self.count, self.since = True, 0, time.monotonic()
        self.ws.new_request(None)  # campaign states and ids: read again if others wrote

    def apply(self, number: int, item: Request | str, stop_on_error: bool) -> bool:
        """One line in the open batch; False when the replay stops at it (--stop-on-error)."""
        if number <= self.progress.done:  # only a line that failed before is read again
            self.batch.retried.append(number)
        if isinstance(item, str):
            message: str | None = item
        else:
            try:
                response = apply(self.ws, item)
            except Exception as error:
                cause = _outside(error)
                if cause is not None or not self.ws.in_transaction:
                    raise _Lost(f"at line {number}: {_why(cause or error)}") from error
                message = failure(number, error)  # its savepoint is rolled back: nothing changed
            else:
                message = None
                self.batch.record(item.kind, response)
                if not item.dry:  # a dry run changes nothing, so it is not logged
                    if number > self.log_from and self.logged.maxlen != self.log_size:
                        self.logged = deque(self.logged, maxlen=self.log_size)
                    self.logged.append((item, self.ws.now, response))
                if self.out is not None:
                    self.out.add(number, response, None)
        if message is not None:
            self.batch.fail(number, message)
            if self.out is not None:
                self.out.add(number, None, message)
            if stop_on_error:  # the line is not done: a rerun tries it again (and --out's
                return False  # record of it is replaced then)
            self.failed.add(number)
        else:
            self.failed.discard(number)
        self.last = max(self.last, number)
        self.count += 1
        if self.count >= BATCH_LINES or time.monotonic() - self.since > BATCH_SECONDS:
            self.commit()
        return True

    def commit(self, pause: bool = True) -> None:
        """Commit the open batch with its log's progress and its --out responses; then, if it is
        time, give other writers a turn."""
        if not self.open:
            return
        known = self.progress.known
        key = self.progress.key
        failed = self.failed.copy()
        if self.log is not None and (
            self.last > self.progress.done or failed != self.progress.failed
        ):
            now = {row[0]: row[2] for row in replays.logs(self.ws, self.log.identity)}
            for other in known.keys() - now.keys():  # by an older refcamp, or a first line fixed
                now[other] = replays.lines_done(self.ws, other)
            if now != known:
                raise Stopped(
                    f"replay of {self.source} stopped after line {self.last}: another replay of "
                    "the same log committed lines of it meanwhile, so this one's batch is rolled "
                    "back; run the same command again once the other is done, to resume after "
                    "the last line committed",
                    self.summary,
                )
            key = self.log.key(self.last, failed)
            replays.save(
                self.ws,
                key,
                self.source,
                self.last,
                replaces=self.progress.key,
                failed=failed.text(),
            )
            known = {k: n for k, n in known.items() if k != self.progress.key} | {key: self.last}
        if self.out is not None:
            self.out.write()
        if not pause or time.monotonic() >= self.log_due:  # the last commit, or time to
            self._log()
        self.ws.commit()
        self.open = False
        self.progress = Progress(self.last, key, known, failed)
        self.committed = self.last
        self.summary.add(self.batch)
        self.batch = Summary()
        if self.out is not None:
            self.out.committed()
        if pause:
            self.turns.after_commit()

    def _log(self) -> None:
        """The batch's newest lines into the request log, in the batch's transaction."""
        if not self.logged and self.log_size:  # (a log turned off still forgets its rows)
            return
        self.log_due = time.monotonic() + LOG_SECONDS
        ids = self.ws.talon_ids()
        entries = [
            talon.log_entry("replay", *_request_line(item), now, response, ids)
            for item, now, response in self.logged
        ]
        self.logged.clear()
        request_log.record(self.ws, entries)

    def rollback(self) -> None:
        self.ws.rollback()
        self.open = False
        self.batch = Summary()
        if self.out is not None:
            self.out.undo()

    def stopped(self, what: str, exit_code: int = 1) -> Stopped:
        """Why the replay stopped, what is committed, and what to do."""
        done = self.committed
        if done:
            kept = f"lines 1-{done} of {self.source} are committed, none after"
        else:
            kept = f"no line of {self.source} is committed"
        if self.log is None:
            rest = f"stdin is not resumed: give it the lines after line {done} again"
        elif done:
            rest = f"run the same command again to resume after line {done}"
        else:
            rest = "run the same command again to replay it"
        return Stopped(f"replay {what}; {kept}; {rest}", self.summary, exit_code)


def _convert(ws: Any, log: Log, progress: Progress) -> None:
    with ws.transaction():
        if replays.lines_done(ws, log.legacy) != progress.done:
            raise RefcampError(f"replay file {log.path}: another replay of it is running")
        key = log.key(progress.done)
        replays.save(ws, key, str(log.path), progress.done, replaces=log.legacy)
    progress.known = {k: n for k, n in progress.known.items() if k != log.legacy}
    progress.key, progress.known[key] = key, progress.done


def run(
    ws: Any,
    reader: Reader,
    source: str,
    log: Log | None,
    out: Out | None = None,
    stop_on_error: bool = False,
    tick: Callable[[int], None] | None = None,
    new_log: bool = False,
    start_over: bool = False,
) -> Summary:
    """Replay a file's items (`log`: the file; None for a stream, which is not resumed) into the
    workspace's database. Raises Stopped when it stops before the end for a reason other than a
    bad line: what it committed stays."""
    _ = ws.catalog  # a replay never runs on campaigns that do not validate
    started = time.monotonic()
    progress = find_progress(ws, log, new_log, start_over) if log is not None else Progress()
    if out is not None:
        out.open(progress.done if log is not None else 0, progress.failed)
    if log is not None and progress.key == log.legacy:  # known by an older refcamp: from now on,
        _convert(ws, log, progress)  # by its first line, so that it may grow
    replay = _Replay(ws, source, log, out, progress)
    summary = replay.summary
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, replay.on_sigint) if main else None
    items = reader(progress.done, progress.failed)
    try:
        _apply_all(replay, items, stop_on_error, tick)
        replay.commit(pause=False)
    except BaseException as error:
        replay.rollback()
        _stop_for(replay, error)
        raise
    finally:
        items.close()  # a worker reading ahead is stopped
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if out is not None:
            out.close()
        summary.seconds = time.monotonic() - started
    if replay.interrupted:
        raise replay.stopped(f"interrupted after line {replay.last}", 130)
    if replay.reader_error is not None:
        raise replay.stopped(f"stopped after line {replay.last}: {replay.reader_error}")
    return summary


def _apply_all(
    replay: _Replay, items: Any, stop_on_error: bool, tick: Callable[[int], None] | None
) -> None:
    """Apply the reader's items until the end, an interruption or a line that stops it."""
    summary = replay.summary
    while not replay.interrupted:
        got = replay.next(items)
        if got is None:
            break
        number, item = got
        if number == 0:  # the reader has nothing new: do not hold the lock waiting
            replay.commit(pause=False)
            continue
        if item is None:
            summary.skipped += 1
        else:
            if not replay.open:
                replay.begin()
            if not replay.apply(number, item, stop_on_error):
                break
        if tick:
            tick(number)


def _stop_for(replay: _Replay, error: BaseException) -> None:
    """Raise Stopped for an error that ended the replay from outside its lines (a lost lock, a
    full disk); return for any other (Stopped itself, a bug), which the caller raises again."""
    if isinstance(error, Stopped):
        return
    if isinstance(error, _Lost):
        raise replay.stopped(f"stopped {error}") from error.__cause__
    cause = _outside(error)
    if cause is None:
        return
    where = (
        f"committing lines {replay.committed + 1}-{replay.last}"
        if replay.last > replay.committed
        else f"after line {replay.last}"
    )
    raise replay.stopped(f"stopped {where}: {_why(cause)}") from error


class Source(NamedTuple):
    """What a replay reads: a file (its log, resumed) or stdin (no log, not resumed)."""

    reader: Reader
    name: str
    log: Log | None
    total: int | None


@contextlib.contextmanager
def opened(source: str, stdin: Any) -> Iterator[Source]:
    """`source`: a replay file's name, or "-" for `stdin` (a binary stream)."""
    if source == "-":
        yield Source(from_stream(stdin), "stdin", None, None)
        return
    path = Path(source)
    if not path.is_file():
        raise InputError(f"replay file {source}: no such file")
    log = Log(path)
    try:
        yield Source(from_file(path, log.total), str(path), log, log.total)
    finally:
        log.close()


def replay_source(
    ws: Any,
    source: Source,
    out: Path | None = None,
    stop_on_error: bool = False,
    tick: Callable[[int], None] | None = None,
    new_log: bool = False,
    start_over: bool = False,
) -> tuple[Summary, Stopped | None]:
    """Replay `source` (see run), writing --out's responses in Talon.One's shapes. Returns the
    summary and, when the replay stopped before the end, why: what it committed is summed up
    before the error is said."""
    writer = None
    if out is not None:
        writer = Out(out, lambda resp: talon.integration_state(resp, ws.catalog, ws.talon_ids()))
    args = (source.reader, source.name, source.log, writer, stop_on_error, tick)
    try:
        return run(ws, *args, new_log, start_over), None
    except Stopped as error:
        return error.summary, error
