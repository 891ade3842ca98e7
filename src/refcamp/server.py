"""The HTTP door: Talon.One's Integration API on localhost (`refcamp serve`), so an application and
the official SDKs run against refcamp unchanged.

Like the CLI and replay, it only parses a request, calls one service function and shapes the
answer (`talon`). Service calls run one at a time on the connection the server owns, and requests
that arrive together commit together (see Door); commands and other servers use the same state
file at the same time.

Errors have Talon.One's body (ErrorResponseWithStatus) and status: 400 invalid input (with a JSON
pointer to the field), 401 no or wrong API key, 404 unknown path or thing, 405 wrong method, 409
a conflict with the current state, 413 a body over 1 MiB, 408 a body that never arrives, 501 an
Integration API endpoint refcamp does not emulate.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from refcamp import payloads, routes, service, talon
from refcamp.clock import parse_time
from refcamp.errors import (
    CampaignFileError,
    ConflictError,
    DatabaseBusy,
    DatabaseError,
    DatabaseFull,
    DatabaseUnavailable,
    InputError,
    NotFoundError,
    RefcampError,
    StateFileError,
    StateUnreachable,
)
from refcamp.models import Catalog
from refcamp.service import request_log
from refcamp.settings import Settings

MAX_BODY = 1 << 20  # bytes
MMAP_BYTES = 256 << 20  # how much of the state file the server reads through a memory map
BODY_SECONDS = 10.0  # by default, a body that takes longer to arrive is refused (408)


class ApiError(Exception):
    """An answer other than 2xx, with what Talon.One's error body says."""

    def __init__(
        self,
        status: int,
        message: str,
        pointer: str | None = None,
        parameter: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.message = message
        self.source = {"pointer": pointer} if pointer is not None else {}
        if parameter is not None:
            self.source = {"parameter": parameter}

    def response(self) -> Response:
        title = HTTPStatus(self.status).phrase
        error = {"title": title, "details": self.message, "source": self.source}
        body = talon.error(self.status, self.message, [error])
        headers = {"WWW-Authenticate": "ApiKey-v1"} if self.status == 401 else {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return _json(body, self.status, headers)


# An input error names its field as a dotted path first ("customerSession.cartItems[0].price:
# expected a number"); the HTTP answer points at it with a JSON pointer.
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*): ")


def pointer(message: str) -> str | None:
    match = _FIELD.match(message)
    if match is None:
        return None
    path = re.sub(r"\[(\d+)\]", r".\1", match.group(1))
    return "/" + "/".join(path.split("."))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status, headers, media_type="application/json")


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
    RETRY_SECONDS = 1  # what a 503 tells a client to wait (Retry-After)

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
            files = _campaign_files(ws.campaigns_dir)
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


def _campaign_files(directory: Path) -> tuple[Any, ...]:
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


# --- reading requests ----------------------------------------------------------------------------


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """A request's body, for every door that reads one (the API's JSON, the console's forms):
    413 (HTTPException) as soon as the declared (Content-Length) or received size passes `limit`,
    nothing buffered past it; 408 if the whole body has not arrived within `seconds`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body: larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"request body: larger than {limit} bytes")
            chunks.append(chunk)

    try:
        async with asyncio.timeout(seconds):  # unlike wait_for, no task per request
            await read()
    except TimeoutError:
        raise HTTPException(408, f"request body: not received within {seconds:g} seconds") from None
    return b"".join(chunks)


async def body_of(request: Request, door: Door) -> Any:
    """The request's JSON body: at most MAX_BODY bytes, arriving within the door's time."""
    try:
        raw = await read_body(request, MAX_BODY, door.body_seconds)
    except HTTPException as error:
        raise ApiError(error.status_code, error.detail) from None
    if not raw.strip():
        return {}
    try:
        return payloads.json_bytes(raw)
    except payloads.TextError as error:  # named by its field, never stored as U+FFFD
        message = str(error) if error.place else f"request body: {error}"
        raise ApiError(400, message, pointer=payloads.json_pointer(error.place)) from None
    except ValueError as error:
        raise ApiError(400, f"request body: invalid JSON: {error}", pointer="") from None


def flag(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter, read as every door reads it (routes.flag)."""
    try:
        value = routes.flag(request.query_params.get(name), name)
    except InputError as error:
        raise ApiError(400, str(error), parameter=name) from None
    return default if value is None else value


def integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise ApiError(
            400, f"query {name}: expected {low} to {high}, got {value!r}", parameter=name
        )
    return int(value)


def moment(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_time(value, f"query {name}")
    except InputError as error:
        raise ApiError(400, str(error), parameter=name) from None


def path_id(request: Request, name: str) -> str:
    value = request.path_params[name]
    try:
        return payloads.check_id(value, name)
    except InputError as error:
        raise ApiError(400, str(error), parameter=name) from None


# --- endpoints -----------------------------------------------------------------------------------
# Each is `async (request, door) -> Response`: it reads the request, and what touches the state
# runs in `door.call` (a read) or `run` (a request that may change something: its work gives the
# answer and the service's response, which the request log keeps).


def _state(ws: service.Workspace, response: Any) -> tuple[dict[str, Any], Any]:
    """An IntegrationStateV2 answer, and the service response behind it (for the request log)."""
    state = talon.integration_state(response, ws.catalog, ws.talon_ids(), ws.campaign_states())
    return state, response


def logged_line(request: Request) -> tuple[str, str] | None:
    """What the request log keeps of a request (method and path): only requests that may change
    something (a read would push them out), and not dry runs (they leave the state as it was),
    read with the endpoints' own flag parser, so every spelling of true counts."""
    if request.method == "GET" or _dry(request):
        return None
    if _erasure(request) is not None:
        # The erasure is logged without the id, whatever its outcome: a log keeping it would
        # undo it.
        return "DELETE", request_log.ERASURE_PATH
    query = request.url.query
    return request.method, request.url.path + (f"?{query}" if query else "")


async def run(
    door: Door,
    request: Request,
    fn: Callable[[service.Workspace], tuple[Any, Any]],
    now: datetime | None = None,
) -> Any:
    """Run a request that may change something through the door, logged (logged_line)."""
    return await door.request(fn, now, logged_line(request))


async def update_profile(request: Request, door: Door) -> Response:
    profile_id = path_id(request, "integrationId")
    run_rules, dry = flag(request, "runRuleEngine"), flag(request, "dry")
    body = payloads.read_profile_body(await body_of(request, door))

    def call(ws: service.Workspace) -> tuple[dict[str, Any], Any]:
        resp = service.update_profile(ws, profile_id, body, run_rules=run_rules, dry_run=dry)
        return _state(ws, resp)

    return _json(await run(door, request, call))


async def update_profiles(request: Request, door: Door) -> Response:
    silent = flag(request, "silent", default=True)
    raw = await body_of(request, door)
    items = payloads.read_profiles_body(raw)

    def call(ws: service.Workspace) -> tuple[dict[str, Any] | None, None]:
        ids = ws.talon_ids()
        states = [
            {
                "customerProfile": talon.profile(
                    r.profile, ids, r.profile_stats, r.audiences, r.profile_number
                )
            }
            for _, r in service.update_profiles(ws, items)
            if r.profile is not None
        ]
        return (None if silent else {"integrationStates": states}), None

    # silent (the default) answers 204 without a body, as Talon.One does.
    result = await run(door, request, call)
    return Response(status_code=204) if result is None else _json(result)


async def update_session(request: Request, door: Door) -> Response:
    session_id = path_id(request, "customerSessionId")
    dry, now = flag(request, "dry"), moment(request, "now")
    raw = await body_of(request, door)
    if isinstance(raw, dict) and "return" in raw and "customerSession" not in raw:
        raise ApiError(
            400,
            "this is a return (ReturnIntegrationRequest): send it to "
            f"/v2/customer_sessions/{session_id}/returns",
            pointer="/return",
        )
    body = payloads.read_session_body(raw)

    def call(ws: service.Workspace) -> tuple[dict[str, Any], Any]:
        return _state(ws, service.update_session(ws, session_id, body, dry_run=dry))

    return _json(await run(door, request, call, now))


async def get_session(request: Request, door: Door) -> Response:
    session_id = path_id(request, "customerSessionId")

    def call(ws: service.Workspace) -> dict[str, Any]:
        session, views, effects = service.session_view(ws, session_id)
        ids = ws.talon_ids()
        return {
            "customerSession": talon.session(session, views.first_session, views.returned_items),
            "effects": [talon.effect(e, ids) for e in effects],
        }

    return _json(await door.call(call))


async def reopen_session(request: Request, door: Door) -> Response:
    session_id = path_id(request, "customerSessionId")

    def call(ws: service.Workspace) -> tuple[dict[str, Any], Any]:
        response = service.reopen_session(ws, session_id)
        ids = ws.talon_ids()
        return {"effects": [talon.effect(e, ids) for e in response.effects]}, response

    return _json(await run(door, request, call))


async def return_items(request: Request, door: Door) -> Response:
    session_id = path_id(request, "customerSessionId")
    dry = flag(request, "dry")
    body = payloads.read_return_body(await body_of(request, door))

    def call(ws: service.Workspace) -> tuple[dict[str, Any], Any]:
        return _state(ws, service.return_items(ws, session_id, body, dry_run=dry))

    return _json(await run(door, request, call))


async def track_event(request: Request, door: Door) -> Response:
    dry = flag(request, "dry")
    body = payloads.read_event_body(await body_of(request, door))

    def call(ws: service.Workspace) -> tuple[dict[str, Any], Any]:
        response = service.track_event(
            ws,
            body.type,
            body.profile_id,
            body.session_id,
            body.attributes,
            dry_run=dry,
            response_content=body.response_content,
        )
        return _state(ws, response)

    return _json(await run(door, request, call))


async def create_referral(request: Request, door: Door) -> Response:
    body = payloads.read_referral_body(await body_of(request, door))

    def call(ws: service.Workspace) -> tuple[dict[str, Any], None]:
        referral = service.create_referral(
            ws,
            str(body.campaign_id),
            body.advocates[0],
            friend=body.friend,
            usage_limit=body.usage_limit,
            starts=body.starts,
            expires=body.expires,
            attributes=body.attributes,
        )
        return talon.referral(referral, ws.talon_ids()), None

    return _json(await run(door, request, call), 201)


async def create_referrals(request: Request, door: Door) -> Response:
    silent = flag(request, "silent", default=True)
    body = payloads.read_referral_body(await body_of(request, door), many=True)

    def call(ws: service.Workspace) -> tuple[dict[str, Any] | None, None]:
        created = service.create_referrals(ws, body)
        ids = ws.talon_ids()
        data = [talon.referral(r, ids) for r in created]
        return (None if silent else {"totalResultSize": len(created), "data": data}), None

    result = await run(door, request, call)
    return Response(status_code=204) if result is None else _json(result, 201)


async def balances(request: Request, door: Door) -> Response:
    program, profile_id = path_id(request, "loyaltyProgramId"), path_id(request, "integrationId")
    end = moment(request, "endDate")

    def call(ws: service.Workspace) -> dict[str, Any]:
        found = service.balances(ws, profile_id, program)
        return talon.balance(next(iter(found.values())))

    return _json(await door.call(call, end))


async def transactions(request: Request, door: Door) -> Response:
    program, profile_id = path_id(request, "loyaltyProgramId"), path_id(request, "integrationId")
    start, end = moment(request, "startDate"), moment(request, "endDate")
    size = integer(request, "pageSize", 50, 1, 1000)
    skip = integer(request, "skip", 0, 0, 2**31)

    def call(ws: service.Workspace) -> dict[str, Any]:
        entries = [
            e
            for e in service.ledger(ws, profile_id, program)
            if (start is None or e.created >= start) and (end is None or e.created <= end)
        ]
        page = entries[skip : skip + size]
        has_more = skip + size < len(entries)
        return talon.transactions(page, ws.talon_ids(), ws.catalog, has_more)

    return _json(await door.call(call))


async def inventory(request: Request, door: Door) -> Response:
    profile_id = path_id(request, "integrationId")
    parts = [p for p in routes.INVENTORY.flags if flag(request, p)]

    def call(ws: service.Workspace) -> dict[str, Any]:
        found = service.inventory(ws, profile_id)
        return talon.inventory(found, ws.talon_ids(), ws.catalog, parts)

    return _json(await door.call(call))


async def reserve_coupon(request: Request, door: Door) -> Response:
    code = path_id(request, "couponValue")
    customers = payloads.read_reservation_body(await body_of(request, door))
    unreserve = request.method == "DELETE"

    def call(ws: service.Workspace) -> tuple[dict[str, Any] | None, None]:
        if unreserve:
            service.unreserve_coupon(ws, code, customers)
            return None, None
        coupon = service.reserve_coupon_for(ws, code, customers)
        return talon.coupon(coupon, ws.talon_ids()), None

    result = await run(door, request, call)
    return Response(status_code=204) if result is None else _json(result, 201)


async def reserved_customers(request: Request, door: Door) -> Response:
    code = path_id(request, "couponValue")

    def call(ws: service.Workspace) -> dict[str, Any]:
        ids = ws.talon_ids()
        found = service.reserved_customers(ws, code)
        data = [talon.profile(p, ids, views.stats, views.audiences) for p, views in found]
        return {"totalResultSize": len(data), "data": data}

    return _json(await door.call(call))


async def delete_customer(request: Request, door: Door) -> Response:
    profile_id = path_id(request, "integrationId")

    def call(ws: service.Workspace) -> tuple[None, None]:
        erased = service.delete_customer_data(ws, profile_id)
        # Entries the door holds for its group's commit (this group's requests, failures logged
        # while another process held the lock) must not bring the customer back either.
        door.logged[:] = [entry for entry in door.logged if not erased.names(entry)]
        return None, None

    await run(door, request, call)
    return Response(status_code=204)


async def create_audience(request: Request, door: Door) -> Response:
    name = payloads.read_audience_body(await body_of(request, door))

    def call(ws: service.Workspace) -> tuple[dict[str, Any], None]:
        number, created = service.create_audience(ws, name)
        audience = {"accountId": talon.ACCOUNT_ID, "id": number, "created": created, "name": name}
        return audience, None

    return _json(await run(door, request, call), 201)


async def change_audiences(request: Request, door: Door) -> Response:
    changes = payloads.read_audience_changes(await body_of(request, door))

    def call(ws: service.Workspace) -> tuple[None, None]:
        service.change_audiences(ws, changes)
        return None, None

    await run(door, request, call)
    return Response(status_code=204)


Handler = Callable[[Request, Door], Awaitable[Response]]
# The handler of each endpoint routes.EMULATED lists.
HANDLERS: dict[routes.Endpoint, Handler] = {
    routes.PROFILE: update_profile,
    routes.PROFILES: update_profiles,
    routes.SESSION: update_session,
    routes.GET_SESSION: get_session,
    routes.REOPEN: reopen_session,
    routes.RETURN: return_items,
    routes.EVENT: track_event,
    routes.REFERRAL: create_referral,
    routes.REFERRALS: create_referrals,
    routes.BALANCES: balances,
    routes.TRANSACTIONS: transactions,
    routes.RESERVE: reserve_coupon,
    routes.UNRESERVE: reserve_coupon,
    routes.RESERVED: reserved_customers,
    routes.INVENTORY: inventory,
    routes.ERASURE: delete_customer,
    routes.AUDIENCE: create_audience,
    routes.AUDIENCES: change_audiences,
}

# Every path the Integration API has, emulated or not, for naming a path parameter.
TEMPLATES = tuple(e.path for e in routes.EMULATED + routes.NOT_EMULATED)


def _status(error: Exception) -> int:
    if isinstance(error, StateUnreachable) or getattr(error, "transient", False):
        return 503  # the database cannot be reached or written now: worth trying again
    if isinstance(error, StateFileError | CampaignFileError | DatabaseError):
        return 500  # the server's own state or files, not the request, are at fault
    if isinstance(error, InputError):
        return 400
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError | RefcampError):
        return 409
    return 500


def _guard(endpoint: Handler, door: Door, debug: bool) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint whose failures become Talon.One's error bodies (and are logged)."""

    async def handle(request: Request) -> Response:
        try:
            return await endpoint(request, door)
        except Exception as error:
            failed = _failure(error, debug)
        line = logged_line(request)
        if line is not None:
            with contextlib.suppress(Exception):  # logging never changes the answer
                door.log_failure(line, failed.status, _loggable(request, failed.message))
        return failed.response()

    return handle


def _erasure(request: Request) -> str | None:
    """The integration id an erasure request names (DELETE /v1/customer_data/{id}), else None."""
    if request.method == "DELETE" and routes.ERASURE.pattern.match(request.url.path):
        return str(request.path_params.get("integrationId", ""))
    return None


def _loggable(request: Request, message: str) -> str:
    """A failure's message as the request log keeps it: without the id of an erasure."""
    secret = _erasure(request)
    if secret and request_log.Erased(secret).names_row("", None, None, [message]):
        return "refused (its message named the id, which an erasure request does not log)"
    return message


def _dry(request: Request) -> bool:
    """Whether a request asks for a dry run (a malformed dry flag counts as one: not logged)."""
    try:
        return flag(request, "dry")
    except ApiError:
        return True


def _failure(error: Exception, debug: bool) -> ApiError:
    """What a request that failed is answered (with debug, a bug is raised instead)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, RefcampError):
        status = _status(error)
        if status == 500 and debug and isinstance(error, DatabaseError):
            raise error
        message = str(error)
        retry = Door.RETRY_SECONDS if status == 503 else None
        return ApiError(status, message, pointer(message) if status == 400 else None, None, retry)
    if debug:
        raise error
    return ApiError(500, f"internal error: {type(error).__name__}: {error}")


def _not_emulated(method: str, path: str) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        return ApiError(
            501, f"{method} {path} is an Integration API endpoint refcamp does not emulate"
        ).response()

    return handle


class Gate:
    """What every request passes first: an HTTP request (nothing else is served). The console
    (every path outside /v1/ and /v2/) signs its users in itself; an Integration API request
    needs an id in the path without an encoded "/" (routing sees the decoded path, so
    `S1%2Freopen` would reach another endpoint), and `Authorization: ApiKey-v1 KEY` (else 401
    and nothing runs)."""

    def __init__(self, app: Any, key: str, console: Any) -> None:
        self.app = app
        self.console = console
        self.expected = f"ApiKey-v1 {key}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        if not scope["path"].startswith(API_PATHS):
            await self.console(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if not hmac.compare_digest(given, self.expected):
            why = "no API key" if not given else "wrong API key or scheme"
            error = ApiError(401, f"{why}: send the header Authorization: ApiKey-v1 <key>")
        elif b"%2f" in scope.get("raw_path", b"").lower():
            error = ApiError(
                400, 'path: an id with "/" (%2F) cannot be used over HTTP', parameter="path"
            )
        elif (not_utf8 := _not_utf8(scope)) is not None:
            error = not_utf8
        else:
            await self.app(scope, receive, send)
            return
        await error.response()(scope, receive, send)


API_PATHS = ("/v1/", "/v2/")


def _not_utf8(scope: Any) -> ApiError | None:
    """A 400 naming the path or query parameter whose percent-encoded bytes are not UTF-8, if
    one is: Starlette would decode them with replacement characters, and `U%FF` and `U%FE` would
    both be the id `U\ufffd`."""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    if b"%" in raw_path or not raw_path.isascii():
        for index, segment in enumerate(raw_path.split(b"/")):
            if not _utf8(segment):
                name = _path_parameter(scope["path"].split("/"), index)
                shown = segment.decode("ascii", "backslashreplace")
                return ApiError(
                    400, f"{name}: {shown!r} is not UTF-8 once percent-decoded", parameter=name
                )
    query = scope.get("query_string", b"")
    if b"%" in query or not query.isascii():
        for pair in query.split(b"&"):
            key, _, value = pair.partition(b"=")
            if not _utf8(key):
                shown = key.decode("ascii", "backslashreplace")
                return ApiError(400, f"query: the name {shown!r} is not UTF-8", parameter=shown)
            if not _utf8(value):
                name = unquote_to_bytes(key.replace(b"+", b" ")).decode()
                shown = value.decode("ascii", "backslashreplace")
                return ApiError(
                    400,
                    f"query {name}: {shown!r} is not UTF-8 once percent-decoded",
                    parameter=name,
                )
    return None


def _utf8(encoded: bytes) -> bool:
    try:
        unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _path_parameter(segments: list[str], index: int) -> str:
    """The name of the path parameter at segment `index` of the endpoint the path is, else
    "path"."""
    for template in TEMPLATES:
        parts = template.split("/")
        if (
            len(parts) == len(segments)
            and parts[index].startswith("{")
            and all(p.startswith("{") or p == s for p, s in zip(parts, segments, strict=True))
        ):
            return parts[index][1:-1]
    return "path"


def create_app(door: Door, key: str, debug: bool = False) -> Any:
    """The ASGI app: the emulated endpoints, 501 for the rest of the Integration API, and the
    console beside them."""
    from refcamp.console import create_console

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        if error.status_code == 405:
            message = f"{request.method} is not a method of {request.url.path}"
        elif error.status_code == 404:
            message = f"no endpoint {request.url.path}"
        else:
            message = str(error.detail)
        response = ApiError(error.status_code, message).response()
        response.headers.update(error.headers or {})  # 405's Allow
        return response

    table: dict[str, dict[str, Callable[..., Any]]] = {}
    for endpoint in routes.EMULATED:
        handler = _guard(HANDLERS[endpoint], door, debug)
        table.setdefault(endpoint.path, {})[endpoint.method] = handler
    for endpoint in routes.NOT_EMULATED:
        missing = _not_emulated(endpoint.method, endpoint.path)
        table.setdefault(endpoint.path, {})[endpoint.method] = missing

    def dispatch(handlers: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
        async def handle(request: Request) -> Response:
            return await handlers[request.method](request)

        return handle

    app = Starlette(
        routes=[
            Route(path, dispatch(handlers), methods=list(handlers))
            for path, handlers in table.items()
        ],
        exception_handlers={HTTPException: http_error},
    )
    return Gate(app, key, create_console(door, key, read_body))
