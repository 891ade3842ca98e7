"""--out: one response per line, on disk with the batch that commits its line, and only then."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from refcamp.errors import InputError
from refcamp.replay.lines import NO_LINES, LineSet

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
