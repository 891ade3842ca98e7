"""The door: where the HTTP server's requests meet the state (one workspace, one connection, one
request at a time, group commit), and where it keeps serving through a database outage or a
campaign file that does not validate."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from refcamp import service, talon
from refcamp.errors import (
    CampaignFileError,
    DatabaseBusy,
    DatabaseError,
    DatabaseFull,
    DatabaseUnavailable,
    StateFileError,
    StateUnreachable,
)
from refcamp.models import Catalog
from refcamp.service import request_log
from refcamp.settings import Settings

MMAP_BYTES = 256 << 20  # how much of the state file the server reads through a memory map
BODY_SECONDS = 10.0  # by default, a body that takes longer to arrive is refused (408)


class Door:
    """Where requests meet the state: one workspace, one connection, one request at a time.

    Service calls run in the event loop's own thread, one after the other: SQLite lets one writer
    at a time anyway, and handing each call to a worker thread cost a fifth of the throughput in
    thread switches.

    Each request is judged at its own time: the time it reached the door, or the `now` it asked
    for, fixed before it waits for the write lock and set on the workspace only once it holds it,
    right before its work runs (with nothing awaited in between), so nothing that arrives while it
    waits can move its clock.

    Group commit: requests that arrive together are committed together. The first opens the
    group's transaction; each request runs in a savepoint of its own (all or nothing on its own,
    as in a replay's batch); the group commits once the event loop has run what was ready, and
    only then is any of them answered: an answer always means committed. (Waiting a little for
    more requests to join made bigger groups but no more requests per second.) If the database
    gives the whole transaction up (a full disk, a PostgreSQL server that stopped), every request
    of the group is answered 503 with Retry-After, the connection is dropped, and the next request
    opens a new one: the server recovers by itself once the database is back, and says the outage
    and the recovery once each on stderr.

    Campaign files edited while serving are read again; a set that does not validate (a file
    half-saved by an editor) is not taken: the door keeps serving the last good campaigns and says
    once which file is broken (`broken`, also shown by the console), until the files validate."""

    CHECK_SECONDS = 1.0  # how often the campaign files are looked at for edits
    LOCK_SECONDS = 30.0  # how long a request waits for another process's write lock (then 503)

    def __init__(
        self,
        settings: Settings,
        body_seconds: float = BODY_SECONDS,
        say: Callable[[str], None] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog  # the last campaigns that validated (serve checked them at start)
        self.body_seconds = body_seconds
        self.say = say or (lambda text: None)  # stderr of `refcamp serve`
        self.ws: service.Workspace | None = None
        self.campaign_files: tuple[Any, ...] | None = None
        self.checked = 0.0
        self.broken: str | None = None  # why the campaign files on disk are not served
        self.outage: tuple[float, str] | None = None  # since when, and why, the state is out
        self.group = False  # the group's transaction was begun
        self.waiting: list[tuple[asyncio.Future[Any], Any]] = []  # done, not yet committed
        self.commit_due: asyncio.Handle | None = None
        self.logged: list[Any] = []  # request log entries, committed with the group

    def make_workspace(self) -> service.Workspace:
        """A workspace on the served state, with the server's settings."""
        return service.Workspace(self.settings)

    async def call(
        self, fn: Callable[[service.Workspace], Any], now: datetime | None = None
    ) -> Any:
        """Run `fn(workspace)` (a read, or a request that is not logged) at `now`, else at the time
        it arrived, and return its result once committed."""
        result, _ = await self._run(lambda ws: (fn(ws), None), now, None)
        return result

    async def request(
        self,
        fn: Callable[[service.Workspace], tuple[Any, Any]],
        now: datetime | None = None,
        line: tuple[str, str] | None = None,
    ) -> Any:
        """Run one Integration API request: `fn(workspace)` gives its answer and the service's
        response. With a `line` (method and path) the request log keeps it, effects and
        explanation included, committed with the request. Returns the answer once committed."""
        answer, _ = await self._run(fn, now, line)
        return answer

    async def _run(
        self,
        fn: Callable[[service.Workspace], tuple[Any, Any]],
        now: datetime | None,
        line: tuple[str, str] | None,
    ) -> tuple[Any, Any]:
        ws = self._workspace()
        arrived = ws.request_time(now)  # before any wait: the time this request is judged at
        if not self.group:
            await self._begin(ws)
        # From here to the end of fn nothing is awaited: no other request runs in between.
        ws.new_request(arrived)
        try:
            ws.savepoint("door")
            # The request's whole work, shaping its answer and its request log entry included
            # (which may give new ids), is inside its savepoint.
            answer, served = fn(ws)
            entry = None
            if line is not None:
                entry = talon.log_entry("http", *line, arrived, served, ws.talon_ids())
        except BaseException as error:
            self._undo(ws, error)
            raise
        else:
            ws.release("door")
            if entry is not None:
                self.logged.append(entry)
        finally:
            self._schedule_commit()
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((done, (answer, served)))
        return await done  # type: ignore[no-any-return]

    def log_failure(self, line: tuple[str, str], status: int, message: str) -> None:
        """Log a request that failed (nothing of it was written) with the open group, or with a
        group begun now if the write lock is free; else with the next group. The answer never
        waits for the lock just to be logged, and a state that cannot be reached logs nothing."""
        if self.outage is not None:
            return
        ws = self._workspace()
        at = ws.request_time(None)
        self.logged.append(talon.log_entry("http", *line, at, status=status, message=message))
        try:
            if not self.group and ws.try_begin():
                self.group = True
        except (DatabaseError, StateFileError) as error:
            self._down(error)
            return
        if self.group:
            self._schedule_commit()

    async def _begin(self, ws: service.Workspace) -> None:
        """Begin the group's transaction, waiting for another process's write lock without
        blocking the event loop (the connection itself does not wait)."""
        deadline = time.monotonic() + self.LOCK_SECONDS
        pause = 0.001
        try:
            while not ws.try_begin():
                if time.monotonic() > deadline:
                    raise DatabaseBusy("database is locked")
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.05)
                if self.group:  # another request began it meanwhile
                    return
        except (DatabaseUnavailable, StateUnreachable) as error:
            self._down(error)
            raise
        self.group = True

    def _undo(self, ws: service.Workspace, error: BaseException) -> None:
        """Undo one request's work; if the connection or the transaction is gone, the group's."""
        if isinstance(error, DatabaseUnavailable | StateUnreachable):
            self._lost(error)
            return
        if ws.in_transaction:
            try:
                ws.undo_to("door")
                return
            except DatabaseError as failure:
                error = failure
        self._lost(error if isinstance(error, DatabaseError) else None)

    def _schedule_commit(self) -> None:
        """Commit once the event loop has run what is ready (other requests whose bytes have
        arrived join the group first)."""
        if self.commit_due is None:
            self.commit_due = asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        self.commit_due = None
        if not self.group:
            return
        ws = self._workspace()
        if not ws.in_transaction:  # the database gave the transaction up (a full disk, I/O)
            self._lost(None)
            return
        waiting, self.waiting = self.waiting, []
        logged, self.logged = self.logged, []
        try:
            request_log.record(ws, logged)
            ws.commit()
        except Exception as error:  # whatever it is, none of the group is saved: say so to all
            self.waiting = waiting
            self._lost(error if isinstance(error, DatabaseError) else None, error)
            return
        finally:
            self.group = self.ws is not None and ws.in_transaction
        self._up()
        for done, result in waiting:
            if not done.done():
                done.set_result(result)

    def _lost(
        self, error: DatabaseError | StateUnreachable | None, bug: Exception | None = None
    ) -> None:
        """The group's transaction is gone: none of its requests is done. Each is answered with
        what happened (503 while the database cannot be reached or written)."""
        if self.ws is not None:
            self.ws.rollback()
            self.ws.forget_state()  # what it read may have been rolled back
        self.group = False
        self.logged = []
        waiting, self.waiting = self.waiting, []
        why: Exception
        if error is None and bug is not None:
            why = bug
        else:
            cause = error or DatabaseUnavailable("the transaction was rolled back")
            kind = type(cause) if isinstance(cause, DatabaseError) else DatabaseUnavailable
            why = kind(f"not saved: {getattr(cause, 'detail', cause)}")
            if isinstance(cause, DatabaseUnavailable | StateUnreachable | DatabaseFull):
                self._down(cause)
        for done, _ in waiting:
            if not done.done():
                done.set_exception(why)

    def _down(self, error: Exception) -> None:
        """The state cannot be reached or written: drop the connection (the next request opens a
        new one) and say so once, not once per request."""
        if self.ws is not None and isinstance(error, DatabaseUnavailable | StateUnreachable):
            self.ws.disconnect()
        if self.outage is None:
            self.outage = (time.monotonic(), str(error))
            self.say(f"refcamp serve: {error}; answering 503 until the database is back\n")

    def _up(self) -> None:
        if self.outage is not None:
            since, _ = self.outage
            self.outage = None
            self.say(
                f"refcamp serve: the database is back after {time.monotonic() - since:.1f} s\n"
            )

    def _workspace(self) -> service.Workspace:
        if self.ws is None:
            self.ws = self.make_workspace()
            self.ws.on_connect = self._connected
            if self.catalog is not None:
                self.ws.use_catalog(self.catalog)
        ws = self.ws
        now = time.monotonic()
        if now - self.checked >= self.CHECK_SECONDS:  # a stat per file per request costs
            self.checked = now
            files = campaign_files(ws.campaigns_dir)
            if files != self.campaign_files:  # edited while serving: read them again
                self.campaign_files = files
                self._reload(ws)
        return ws

    def _reload(self, ws: service.Workspace) -> None:
        """Take the campaign files as they are now, if they validate; else keep the last good
        ones (a file half-saved by an editor must not take the server down) and say why once."""
        try:
            self.catalog = ws.reload_campaigns()
        except CampaignFileError as error:
            why = str(error)
            if why != self.broken:
                self.broken = why
                self.say(
                    f"refcamp serve: {ws.campaigns_dir}: {why}\n"
                    "refcamp serve: serving the last campaigns that validated until this is fixed\n"
                )
            return
        if self.broken is not None:
            self.broken = None
            self.say(
                f"refcamp serve: {ws.campaigns_dir}: the campaigns validate again; serving them\n"
            )

    def _connected(self, ws: service.Workspace) -> None:
        """A new connection (the first, or one after an outage): set it up for serving."""
        # _begin waits for the write lock, not the connection; pages are read through a memory
        # map (store.db.for_server).
        ws.serve(MMAP_BYTES)

    def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(DatabaseError, StateFileError):
                if self.ws.in_transaction:
                    request_log.record(self.ws, self.logged)
                    self.ws.commit()
            self.ws.close()


def campaign_files(directory: Path) -> tuple[Any, ...]:
    """What identifies the campaign files' current version: names, sizes, times."""
    try:
        if directory.is_file():
            stat = directory.stat()
            return ((directory.name, stat.st_size, stat.st_mtime_ns),)
        return tuple(
            sorted(
                (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
                for entry in os.scandir(directory)
                if entry.name.endswith(".toml")
            )
        )
    except OSError:
        return ()
