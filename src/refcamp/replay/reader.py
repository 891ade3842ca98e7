"""Where a replay's items come from: stdin (with an IDLE item when it is quiet), a file read here,
or a long file read, parsed and validated ahead by a second process (the worker).

The worker is forked on Linux (it inherits this module; spawn elsewhere imports refcamp anew);
it sends chunks of items down a pipe and nothing else: output and Ctrl-C are the main process's."""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from refcamp.errors import RefcampError
from refcamp.replay.lines import (
    IDLE,
    NO_LINES,
    Item,
    LineSet,
    Reader,
    numbered,
    requests,
    unreadable,
)

# A reader with nothing new for this long (a quiet stdin): the batch is committed, so the write
# lock is not held while waiting.
IDLE_SECONDS = 0.2
# A file with fewer lines left than this is read in the main process: a worker costs more to
# start than it saves. The worker sends its items in chunks of at most this many lines or bytes.
WORKER_LINES = 2000
_FORK = sys.platform == "linux"  # elsewhere the default, spawn: a worker imports refcamp anew
CHUNK_LINES = 500
CHUNK_BYTES = 1 << 20


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
        raise unreadable(path, error) from None
    with handle:
        yield from requests(numbered(handle), done, retry)


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
            unreadable(path, error)
            if isinstance(error, OSError)
            else RefcampError(f"replay: reading the file failed: {type(error).__name__}: {error}")
        )
        with contextlib.suppress(ConnectionError):
            send.send(failed)
    finally:
        send.close()
