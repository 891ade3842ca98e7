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
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from refcamp import payloads, service, talon
from refcamp.clock import parse_time
from refcamp.errors import (
    CampaignFileError,
    ConflictError,
    DatabaseError,
    InputError,
    NotFoundError,
    RefcampError,
    StateFileError,
)
from refcamp.service import request_log

# The request a task is serving (method and path, for the request log) and the service Response
# it got: each request runs in a task of its own, so these are per request.
_line: ContextVar[tuple[str, str] | None] = ContextVar("line", default=None)
_served: ContextVar[Any] = ContextVar("served", default=None)

MAX_BODY = 1 << 20  # bytes
MMAP_BYTES = 256 << 20  # how much of the state file the server reads through a memory map
BODY_SECONDS = 10.0  # by default, a body that takes longer to arrive is refused (408)

# The Integration API endpoints of `talon_one@5.0.1-rc` refcamp does not emulate: 501.
NOT_EMULATED = (
    ("PUT", "/v1/catalogs/{catalogId}/sync"),
    ("GET", "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/balances"),
    ("GET", "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/transactions"),
    ("POST", "/v2/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/link_profile"),
    ("PUT", "/v2/audience_customers/{audienceId}/attributes"),
    ("PUT", "/v2/audiences/{audienceId}"),
    ("DELETE", "/v2/audiences/{audienceId}"),
    ("DELETE", "/v2/audiences/{audienceId}/memberships"),
)


class ApiError(Exception):
    """An answer other than 2xx, with what Talon.One's error body says."""

    def __init__(
        self, status: int, message: str, pointer: str | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.source = {"pointer": pointer} if pointer is not None else {}
        if parameter is not None:
            self.source = {"parameter": parameter}

    def response(self) -> Response:
        title = HTTPStatus(self.status).phrase
        error = {"title": title, "details": self.message, "source": self.source}
        body = talon.error(self.status, self.message, [error])
        headers = {"WWW-Authenticate": "ApiKey-v1"} if self.status == 401 else None
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
    """Where requests meet the state file: one workspace, one connection, one request at a time.

    Service calls run in the event loop's own thread, one after the other: SQLite lets one writer
    at a time anyway, and handing each call to a worker thread cost a fifth of the throughput in
    thread switches.

    Group commit: requests that arrive together are committed together. The first opens the
    group's transaction; each request runs in a savepoint of its own (all or nothing on its own,
    as in a replay's batch); the group commits once the event loop has run what was ready, and
    only then is any of them answered: an answer always means committed. (Waiting a little for
    more requests to join made bigger groups but no more requests per second.) If SQLite gives
    the whole transaction up (a full disk), every request of the group is answered 503 and what
    the workspace remembered is read again."""

    CHECK_SECONDS = 1.0  # how often the campaign files are looked at for edits
    LOCK_SECONDS = 30.0  # how long a request waits for another process's write lock (then 503)

    def __init__(
        self, make_workspace: Callable[[], service.Workspace], body_seconds: float = BODY_SECONDS
    ) -> None:
        self.make_workspace = make_workspace
        self.body_seconds = body_seconds
        self.ws: service.Workspace | None = None
        self.campaign_files: tuple[Any, ...] | None = None
        self.checked = 0.0
        self.group = False  # the group's transaction was begun
        self.waiting: list[tuple[asyncio.Future[Any], Any]] = []  # done, not yet committed
        self.commit_due: asyncio.Handle | None = None
        self.logged: list[Any] = []  # request log entries, committed with the group

    async def call(
        self, fn: Callable[[service.Workspace], Any], now: datetime | None = None
    ) -> Any:
        """Run one request's work on the workspace (its clock at `now`, else the server's) and
        return its result once committed."""
        ws = self._workspace()
        ws.new_request(now)
        if not self.group:
            await self._begin(ws)
        ws.savepoint("door")
        try:
            # The request's whole work, shaping its answer and its request log entry included
            # (which may give new ids), is inside its savepoint.
            result = fn(ws)
            entry = self._entry(ws)
        except BaseException:
            self._undo(ws)
            raise
        else:
            ws.release("door")
            if entry is not None:
                self.logged.append(entry)
        finally:
            self._schedule_commit()
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((done, result))
        return await done

    def _entry(self, ws: service.Workspace) -> Any:
        """The request log entry of the request this task serves, or None (a read, a dry run:
        _guard sets no line for those)."""
        line = _line.get()
        if line is None:
            return None
        return talon.log_entry("http", *line, ws.now, _served.get(), ws.talon_ids())

    def log_failure(self, status: int, message: str) -> None:
        """Log a request that failed (nothing of it was written) with the open group, or with a
        group begun now if the state file's write lock is free; else with the next group. The
        answer never waits for the lock just to be logged."""
        line = _line.get()
        if line is None:
            return
        ws = self._workspace()
        ws.at(None)
        self.logged.append(talon.log_entry("http", *line, ws.now, status=status, message=message))
        try:
            if not self.group and ws.try_begin():
                self.group = True
        except sqlite3.Error:
            return
        if self.group:
            self._schedule_commit()

    async def _begin(self, ws: service.Workspace) -> None:
        """Begin the group's transaction, waiting for another process's write lock without
        blocking the event loop (the connection itself does not wait)."""
        deadline = time.monotonic() + self.LOCK_SECONDS
        pause = 0.001
        while not ws.try_begin():
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("database is locked")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
            if self.group:  # another request began it meanwhile
                return
        self.group = True

    def _undo(self, ws: service.Workspace) -> None:
        if ws.in_transaction:
            try:
                ws.undo_to("door")
                return
            except sqlite3.Error:
                pass
        self._lost(sqlite3.OperationalError("the transaction was rolled back"))

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
        if not ws.in_transaction:  # SQLite gave the transaction up (a full disk, I/O)
            self._lost(sqlite3.OperationalError("the transaction was rolled back"))
            return
        waiting, self.waiting = self.waiting, []
        logged, self.logged = self.logged, []
        try:
            request_log.record(ws, logged)
            ws.commit()
        except Exception as error:  # whatever it is, none of the group is saved: say so to all
            self.waiting = waiting
            self._lost(error)
            return
        finally:
            self.group = ws.in_transaction
        for done, result in waiting:
            if not done.done():
                done.set_result(result)

    def _lost(self, error: Exception) -> None:
        """The group's transaction is gone: none of its requests is done."""
        self._workspace().rollback()
        self.group = False
        self.logged = []
        waiting, self.waiting = self.waiting, []
        for done, _ in waiting:
            if not done.done():
                done.set_exception(sqlite3.OperationalError(f"not saved: {error}"))
        self._workspace().forget_campaigns()  # what it read may have been rolled back

    def _workspace(self) -> service.Workspace:
        if self.ws is None:
            self.ws = self.make_workspace()
            # _begin waits for the write lock, not the connection; pages are read through a
            # memory map (store.db.for_server).
            self.ws.serve(MMAP_BYTES)
        ws = self.ws
        now = time.monotonic()
        if now - self.checked >= self.CHECK_SECONDS:  # a stat per file per request costs
            self.checked = now
            files = _campaign_files(ws.campaigns_dir)
            if files != self.campaign_files:  # edited while serving: read them again
                ws.forget_campaigns()
                self.campaign_files = files
        return ws

    def close(self) -> None:
        if self.ws is not None:
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
        return payloads.strict_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "request body: not UTF-8", pointer="") from None
    except ValueError as error:
        raise ApiError(400, f"request body: invalid JSON: {error}", pointer="") from None


def flag(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter: true/false, or yes/no as Talon.One's `silent` takes."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    raise ApiError(400, f"query {name}: expected true or false, got {value!r}", parameter=name)


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
# file runs in `door.call`.


def _state(ws: service.Workspace, response: Any) -> dict[str, Any]:
    _served.set(response)  # for the request log
    return talon.integration_state(response, ws.catalog, ws.talon_ids(), ws.campaign_states())


async def update_profile(request: Request, door: Door) -> Response:
    profile_id = path_id(request, "integrationId")
    run_rules, dry = flag(request, "runRuleEngine"), flag(request, "dry")
    body = payloads.read_profile_body(await body_of(request, door))

    def call(ws: service.Workspace) -> dict[str, Any]:
        resp = service.update_profile(ws, profile_id, body, run_rules=run_rules, dry_run=dry)
        return _state(ws, resp)

    return _json(await door.call(call))


async def update_profiles(request: Request, door: Door) -> Response:
    silent = flag(request, "silent", default=True)
    raw = await body_of(request, door)
    items = payloads.read_profiles_body(raw)

    def call(ws: service.Workspace) -> dict[str, Any] | None:
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
        return None if silent else {"integrationStates": states}

    # silent (the default) answers 204 without a body, as Talon.One does.
    result = await door.call(call)
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

    def call(ws: service.Workspace) -> dict[str, Any]:
        return _state(ws, service.update_session(ws, session_id, body, dry_run=dry))

    return _json(await door.call(call, now))


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

    def call(ws: service.Workspace) -> dict[str, Any]:
        response = service.reopen_session(ws, session_id)
        _served.set(response)  # for the request log
        ids = ws.talon_ids()
        return {"effects": [talon.effect(e, ids) for e in response.effects]}

    return _json(await door.call(call))


async def return_items(request: Request, door: Door) -> Response:
    session_id = path_id(request, "customerSessionId")
    dry = flag(request, "dry")
    body = payloads.read_return_body(await body_of(request, door))

    def call(ws: service.Workspace) -> dict[str, Any]:
        return _state(ws, service.return_items(ws, session_id, body, dry_run=dry))

    return _json(await door.call(call))


async def track_event(request: Request, door: Door) -> Response:
    dry = flag(request, "dry")
    body = payloads.read_event_body(await body_of(request, door))
    if not body.type:
        raise ApiError(400, "type: required", pointer="/type")

    def call(ws: service.Workspace) -> dict[str, Any]:
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

    return _json(await door.call(call))


async def create_referral(request: Request, door: Door) -> Response:
    body = payloads.read_referral_body(await body_of(request, door))

    def call(ws: service.Workspace) -> dict[str, Any]:
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
        return talon.referral(referral, ws.talon_ids())

    return _json(await door.call(call), 201)


async def create_referrals(request: Request, door: Door) -> Response:
    silent = flag(request, "silent", default=True)
    body = payloads.read_referral_body(await body_of(request, door), many=True)

    def call(ws: service.Workspace) -> dict[str, Any] | None:
        created = service.create_referrals(ws, body)
        ids = ws.talon_ids()
        data = [talon.referral(r, ids) for r in created]
        return None if silent else {"totalResultSize": len(created), "data": data}

    result = await door.call(call)
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
    parts = [
        p for p in ("profile", "referrals", "coupons", "loyalty", "giveaways") if flag(request, p)
    ]

    def call(ws: service.Workspace) -> dict[str, Any]:
        found = service.inventory(ws, profile_id)
        return talon.inventory(found, ws.talon_ids(), ws.catalog, parts)

    return _json(await door.call(call))


async def reserve_coupon(request: Request, door: Door) -> Response:
    code = path_id(request, "couponValue")
    customers = payloads.read_reservation_body(await body_of(request, door))
    unreserve = request.method == "DELETE"

    def call(ws: service.Workspace) -> dict[str, Any] | None:
        if unreserve:
            service.unreserve_coupon(ws, code, customers)
            return None
        coupon = service.reserve_coupon_for(ws, code, customers)
        return talon.coupon(coupon, ws.talon_ids())

    result = await door.call(call)
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

    def call(ws: service.Workspace) -> None:
        service.delete_customer_data(ws, profile_id)

    await door.call(call)
    return Response(status_code=204)


async def create_audience(request: Request, door: Door) -> Response:
    name = payloads.read_audience_body(await body_of(request, door))

    def call(ws: service.Workspace) -> dict[str, Any]:
        number, created = service.create_audience(ws, name)
        return {
            "accountId": talon.ACCOUNT_ID,
            "id": number,
            "created": created,
            "name": name,
        }

    return _json(await door.call(call), 201)


async def change_audiences(request: Request, door: Door) -> Response:
    changes = payloads.read_audience_changes(await body_of(request, door))

    def call(ws: service.Workspace) -> None:
        service.change_audiences(ws, changes)

    await door.call(call)
    return Response(status_code=204)


Endpoint = Callable[[Request, Door], Awaitable[Response]]
ENDPOINTS: tuple[tuple[str, str, Endpoint], ...] = (
    ("PUT", "/v2/customer_profiles/{integrationId}", update_profile),
    ("PUT", "/v2/customer_profiles", update_profiles),
    ("PUT", "/v2/customer_sessions/{customerSessionId}", update_session),
    ("GET", "/v2/customer_sessions/{customerSessionId}", get_session),
    ("PUT", "/v2/customer_sessions/{customerSessionId}/reopen", reopen_session),
    ("POST", "/v2/customer_sessions/{customerSessionId}/returns", return_items),
    ("POST", "/v2/events", track_event),
    ("POST", "/v1/referrals", create_referral),
    ("POST", "/v1/referrals_for_multiple_advocates", create_referrals),
    ("GET", "/v1/loyalty_programs/{loyaltyProgramId}/profile/{integrationId}/balances", balances),
    (
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/profile/{integrationId}/transactions",
        transactions,
    ),
    ("POST", "/v1/coupon_reservations/{couponValue}", reserve_coupon),
    ("DELETE", "/v1/coupon_reservations/{couponValue}", reserve_coupon),
    ("GET", "/v1/coupon_reservations/customerprofiles/{couponValue}", reserved_customers),
    ("GET", "/v1/customer_profiles/{integrationId}/inventory", inventory),
    ("DELETE", "/v1/customer_data/{integrationId}", delete_customer),
    ("POST", "/v2/audiences", create_audience),
    ("POST", "/v2/customer_audiences", change_audiences),
)


def _status(error: Exception) -> int:
    if isinstance(error, StateFileError | CampaignFileError):
        return 500  # the server's own files, not the request, are at fault
    if isinstance(error, InputError):
        return 400
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError | RefcampError):
        return 409
    return 500


def _guard(endpoint: Endpoint, door: Door, debug: bool) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint whose failures become Talon.One's error bodies."""

    async def handle(request: Request) -> Response:
        # What the request log keeps: requests that may change something (a read would push
        # them out), and not dry runs (they leave the state file as it was), read with the
        # endpoints' own flag parser, so every spelling of true counts.
        if request.method != "GET" and not _dry(request):
            query = request.url.query
            _line.set((request.method, request.url.path + (f"?{query}" if query else "")))
        try:
            return await endpoint(request, door)
        except Exception as error:
            failed = _failure(error, debug)
        with contextlib.suppress(Exception):  # logging never changes the answer
            door.log_failure(failed.status, failed.message)
        return failed.response()

    return handle


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
        message = str(error)
        return ApiError(status, message, pointer(message) if status == 400 else None)
    if isinstance(error, sqlite3.OperationalError):
        # A lock held too long, a full disk: worth trying again later. Anything else is a bug,
        # said as one.
        known = DatabaseError(error)
        if not known.transient and debug:
            raise error
        return ApiError(503 if known.transient else 500, str(known))
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
        else:
            await self.app(scope, receive, send)
            return
        await error.response()(scope, receive, send)


API_PATHS = ("/v1/", "/v2/")


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

    routes: dict[str, dict[str, Callable[..., Any]]] = {}
    for method, path, endpoint in ENDPOINTS:
        routes.setdefault(path, {})[method] = _guard(endpoint, door, debug)
    for method, path in NOT_EMULATED:
        routes.setdefault(path, {})[method] = _not_emulated(method, path)

    def dispatch(handlers: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
        async def handle(request: Request) -> Response:
            return await handlers[request.method](request)

        return handle

    app = Starlette(
        routes=[
            Route(path, dispatch(handlers), methods=list(handlers))
            for path, handlers in routes.items()
        ],
        exception_handlers={HTTPException: http_error},
    )
    return Gate(app, key, create_console(door, key, read_body))
