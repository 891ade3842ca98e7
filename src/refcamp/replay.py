"""Replaying recorded Integration API traffic: JSON Lines, one request per line.

Each line goes through the same service function as the matching command and is atomic on its own
(a savepoint); lines are committed in batches for speed, so a crash leaves whole requests only. The
file's progress is committed with each batch: a replay that was killed resumes after the last
committed line, and a file replayed twice applies nothing the second time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
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
# A file with fewer lines left than this is read in the main process: a worker costs more to
# start than it saves. The worker sends its items in chunks of at most this many lines or bytes.
WORKER_LINES = 2000
_FORK = sys.platform == "linux"  # elsewhere the default, spawn: a worker imports refcamp anew
CHUNK_LINES = 500
CHUNK_BYTES = 1 << 20

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
    body: Any  # the validated body: a ProfileInput, SessionInput or EventInput
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
    from refcamp import payloads

    try:
        record = payloads.strict_json(text)
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
        if not body.type:
            raise InputError("type: required")
    return Request(line, kind, target, body, dry, run_rules, moment)


def apply(ws: Any, request: Request) -> Any:
    """Carry out one request through the service, exactly as the matching command would."""
    from refcamp import service

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
# the same file applied it.
Item = tuple[int, Request | str | None]
Reader = Callable[[int], Iterator[Item]]  # given how many lines are done, the file's items


def read(line: int, text: str | None) -> Request:
    if text is None:
        raise InputError(f"line {line}: not UTF-8")
    if len(text) > MAX_LINE:
        raise InputError(f"line {line}: longer than {MAX_LINE} bytes")
    return parse(line, text)


def requests(lines: Iterable[tuple[int, str | None]], done: int = 0) -> Iterator[Item]:
    """Each numbered line as a request, or why it is not one; lines up to `done` are skipped
    unread."""
    for number, text in lines:
        if number <= done:
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


def numbered(lines: Iterable[bytes]) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for each non-blank line; text None when it is not UTF-8."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


def from_stream(stream: Iterable[bytes]) -> Reader:
    return lambda done: requests(numbered(stream), done)


def from_file(path: Path, total: int) -> Reader:
    """A file's items: read by a second process while this one applies them when the file is
    long and there is a second core, else read here."""

    def reader(done: int) -> Iterator[Item]:
        # A worker started by spawn (macOS, Windows) imports refcamp anew: it pays off later.
        enough = WORKER_LINES if _FORK else 10 * WORKER_LINES
        if total - done >= enough and _cores() > 1:
            return in_worker(path, done)
        return _in_process(path, done)

    return reader


def _cores() -> int:
    """The cores this process may run on (fewer than the machine has, under taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _in_process(path: Path, done: int) -> Iterator[Item]:
    try:
        handle = path.open("rb")
    except OSError as error:
        raise _unreadable(path, error) from None
    with handle:
        yield from requests(numbered(handle), done)


def _unreadable(path: Path | str, error: OSError) -> InputError:
    return InputError(f"replay file {path}: {error.strerror or error}")


def in_worker(path: Path, done: int) -> Iterator[Item]:
    """requests() of a file, read, parsed and validated by a second process: on two cores, the
    database never waits for the parsing (it is about a fifth of a request). The worker sends
    chunks of items down a pipe, whose size bounds how far ahead of the database it runs."""
    import multiprocessing

    context = multiprocessing.get_context("fork" if _FORK else None)
    receive, send = context.Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # a forked copy of unwritten output would be written twice
            stream.flush()
    worker = context.Process(target=_work, args=(str(path), done, receive, send), daemon=True)
    try:
        worker.start()
    except OSError:  # no process to be had (a container's limit): read the file here
        receive.close()
        send.close()
        yield from _in_process(path, done)
        return
    send.close()  # the worker now holds the only writing end: its exit is this end's EOF
    try:
        while True:
            try:
                chunk = receive.recv()
            except EOFError:
                raise RefcampError("replay: the process reading the file stopped") from None
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


def _work(path: str, done: int, receive: Any, send: Any) -> None:
    """The worker: every item of the file, in chunks, then None (or a message if it failed)."""
    import signal

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
            for item in requests(numbered(counted(handle)), done):
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


Outcome = Callable[[int, Any, str | None], None]  # (line, response or None, error or None)


def run(
    ws: Any,
    reader: Reader,
    source: str,
    key: str | None,
    outcome: Outcome,
    stop_on_error: bool = False,
    tick: Callable[[int], None] | None = None,
) -> Summary:
    """Replay a file's items into the workspace's database; `key` (a file fingerprint, or None
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

    items = reader(done)
    try:
        with batches(conn, BATCH_LINES, BATCH_SECONDS, save_progress) as after_request:
            for number, item in items:
                if item is None:
                    summary.skipped += 1
                    if tick:
                        tick(number)
                    continue
                if isinstance(item, str):
                    message: str | None = item
                else:
                    try:
                        response = apply(ws, item)
                    except Exception as error:
                        # The line's savepoint is rolled back: it changed nothing.
                        message = failure(number, error)
                    else:
                        message = None
                        summary.record(item.kind, response)
                        outcome(number, response, None)
                if message is not None:
                    summary.fail(number, message)
                    outcome(number, None, message)
                    if stop_on_error:
                        break
                last = number
                if tick:
                    tick(number)
                after_request()
    finally:
        items.close()  # a worker reading ahead is stopped
    summary.seconds = time.monotonic() - started
    return summary
