"""Applying a replay's lines in batches: each line through the service in a savepoint of its own,
the batch committed with its log's progress, its --out responses and its newest lines for the
request log, or not at all. Also what a replay counts (Summary) and why it stops (Stopped)."""

from __future__ import annotations

import errno
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from refcamp import service, talon
from refcamp.errors import DatabaseError, DatabaseIntegrity, RefcampError
from refcamp.replay.identity import Log, Progress
from refcamp.replay.lines import KINDS, Item, Request, failure
from refcamp.replay.out import Out
from refcamp.replay.turns import Turns
from refcamp.service import replays, request_log

BATCH_LINES = 2000
BATCH_SECONDS = 0.5
# How often a replay's newest lines go to the request log (the console's live view).
LOG_SECONDS = 5.0
LIVE_LINES = 50  # lines held for the request log while a file is far from its end


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


class Stopped(RefcampError):
    """The replay stopped before the end of its input. What it committed stays (`summary` counts
    it), and a rerun of a file resumes after it."""

    def __init__(self, message: str, summary: Summary, exit_code: int = 1) -> None:
        super().__init__(message)
        self.summary = summary
        self.exit_code = exit_code


class Lost(Exception):
    """The batch in progress cannot be kept; the message says where and why."""


def outside(error: BaseException) -> BaseException | None:
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


def why(error: BaseException) -> str:
    if isinstance(error, DatabaseError):
        return error.why
    if getattr(error, "errno", None) == errno.ENOSPC:
        return "disk full"
    if isinstance(error, OSError):
        return f"I/O error ({error.strerror or error})"
    if isinstance(error, MemoryError):
        return "out of memory"
    return f"internal error: {type(error).__name__}: {error}"


class Replay:
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
                cause = outside(error)
                if cause is not None or not self.ws.in_transaction:
                    raise Lost(f"at line {number}: {why(cause or error)}") from error
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
