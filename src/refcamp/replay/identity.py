"""A replay file as a log: what identifies it (its first request line), how far earlier replays of
it got (the lines done and their digest, the failed lines as blank), and the refusal of a log
whose applied lines changed. See refcamp.replay for the rules."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refcamp.errors import InputError, RefcampError
from refcamp.replay.lines import NO_LINES, LineSet, unreadable
from refcamp.service import replays
from refcamp.service.workspace import Workspace


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
            raise unreadable(path, error) from None
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
            raise unreadable(self.path, error) from None
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


def convert_legacy(ws: Any, log: Log, progress: Progress) -> None:
    with ws.transaction():
        if replays.lines_done(ws, log.legacy) != progress.done:
            raise RefcampError(f"replay file {log.path}: another replay of it is running")
        key = log.key(progress.done)
        replays.save(ws, key, str(log.path), progress.done, replaces=log.legacy)
    progress.known = {k: n for k, n in progress.known.items() if k != log.legacy}
    progress.key, progress.known[key] = key, progress.done
