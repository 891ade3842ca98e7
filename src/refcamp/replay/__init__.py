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

The package, one module per job, each importing only those before it here:

- `lines`: a line as a request (parsing, routing by routes.REPLAYED, validating), or why not;
  the line numbers a progress keeps (LineSet).
- `reader`: the items of stdin or a file; a long file read ahead by a forked worker process.
- `identity`: a file as a log, its identity and how far earlier replays of it got.
- `out`: --out, one response per committed line.
- `turns`: pauses after commits that let other writers to the state file in.
- `batch`: lines applied in batches, each committed with its progress and --out responses.
- this module: the driver (run), and the names the CLI and the tests use.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from refcamp import talon
from refcamp.errors import InputError
from refcamp.replay.batch import (
    BATCH_LINES,
    BATCH_SECONDS,
    LIVE_LINES,
    LOG_SECONDS,
    Lost,
    Replay,
    Stopped,
    Summary,
    apply,
    outside,
    why,
)
from refcamp.replay.identity import Log, Progress, convert_legacy, find_progress, fingerprint
from refcamp.replay.lines import (
    IDLE,
    KINDS,
    MAX_LINE,
    NO_LINES,
    Item,
    LineSet,
    Reader,
    Request,
    failure,
    numbered,
    parse,
    read,
    requests,
)
from refcamp.replay.out import Out
from refcamp.replay.reader import (
    CHUNK_BYTES,
    CHUNK_LINES,
    IDLE_SECONDS,
    WORKER_LINES,
    ReaderStopped,
    _cores,
    _in_process,
    from_file,
    from_stream,
    in_worker,
    stream_lines,
)
from refcamp.replay.turns import PAUSE_AT_MOST, PAUSE_EVERY, PAUSE_SECONDS, Turns

# What other modules and the tests use, as when replay was one module (the constants are copies:
# setting one here changes nothing; set it in its own module).
__all__ = [
    "BATCH_LINES",
    "BATCH_SECONDS",
    "CHUNK_BYTES",
    "CHUNK_LINES",
    "IDLE",
    "IDLE_SECONDS",
    "KINDS",
    "LIVE_LINES",
    "LOG_SECONDS",
    "MAX_LINE",
    "NO_LINES",
    "PAUSE_AT_MOST",
    "PAUSE_EVERY",
    "PAUSE_SECONDS",
    "WORKER_LINES",
    "Item",
    "LineSet",
    "Log",
    "Out",
    "Progress",
    "Reader",
    "ReaderStopped",
    "Request",
    "Source",
    "Stopped",
    "Summary",
    "Turns",
    "_cores",
    "_in_process",
    "apply",
    "failure",
    "find_progress",
    "fingerprint",
    "from_file",
    "from_stream",
    "in_worker",
    "numbered",
    "opened",
    "parse",
    "read",
    "replay_source",
    "requests",
    "run",
    "stream_lines",
]


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
        convert_legacy(ws, log, progress)  # by its first line, so that it may grow
    replay = Replay(ws, source, log, out, progress)
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
    replay: Replay, items: Any, stop_on_error: bool, tick: Callable[[int], None] | None
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


def _stop_for(replay: Replay, error: BaseException) -> None:
    """Raise Stopped for an error that ended the replay from outside its lines (a lost lock, a
    full disk); return for any other (Stopped itself, a bug), which the caller raises again."""
    if isinstance(error, Stopped):
        return
    if isinstance(error, Lost):
        raise replay.stopped(f"stopped {error}") from error.__cause__
    cause = outside(error)
    if cause is None:
        return
    where = (
        f"committing lines {replay.committed + 1}-{replay.last}"
        if replay.last > replay.committed
        else f"after line {replay.last}"
    )
    raise replay.stopped(f"stopped {where}: {why(cause)}") from error


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
