"""The Integration API's endpoints: each reads its request, runs one service function through the
door and shapes the answer (talon); requests that may change something are logged with their
effects, an erasure without the id it erases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from refcamp import payloads, routes, service, talon
from refcamp.server.answers import ApiError, json_response
from refcamp.server.door import Door
from refcamp.server.reading import body_of, flag, integer, moment, path_id
from refcamp.service import request_log

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
    if request.method == "GET" or is_dry(request):
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

    return json_response(await run(door, request, call))


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
    return Response(status_code=204) if result is None else json_response(result)


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

    return json_response(await run(door, request, call, now))


async def get_session(request: Request, door: Door) -> Response:
    session_id = path_id(request, "customerSessionId")

    def call(ws: service.Workspace) -> dict[str, Any]:
        session, views, effects = service.session_view(ws, session_id)
        ids = ws.talon_ids()
        return {
            "customerSession": talon.session(session, views.first_session, views.returned_items),
            "effects": [talon.effect(e, ids) for e in effects],
        }

    return json_response(await door.call(call))


async def reopen_session(request: Request, door: Door) -> Response:
    session_id = path_id(request, "customerSessionId")

    def call(ws: service.Workspace) -> tuple[dict[str, Any], Any]:
        response = service.reopen_session(ws, session_id)
        ids = ws.talon_ids()
        return {"effects": [talon.effect(e, ids) for e in response.effects]}, response

    return json_response(await run(door, request, call))


async def return_items(request: Request, door: Door) -> Response:
    session_id = path_id(request, "customerSessionId")
    dry = flag(request, "dry")
    body = payloads.read_return_body(await body_of(request, door))

    def call(ws: service.Workspace) -> tuple[dict[str, Any], Any]:
        return _state(ws, service.return_items(ws, session_id, body, dry_run=dry))

    return json_response(await run(door, request, call))


async def track_event(request: Request, door: Door) -> Response:
    # silent=yes (Talon.One's default) answers 204 without a body; the event is tracked all the
    # same. silent=no answers the integration state.
    silent, dry = flag(request, "silent", default=True), flag(request, "dry")
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

    state = await run(door, request, call)
    return Response(status_code=204) if silent else json_response(state)


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

    return json_response(await run(door, request, call), 201)


async def create_referrals(request: Request, door: Door) -> Response:
    silent = flag(request, "silent", default=True)
    body = payloads.read_referral_body(await body_of(request, door), many=True)

    def call(ws: service.Workspace) -> tuple[dict[str, Any] | None, None]:
        created = service.create_referrals(ws, body)
        ids = ws.talon_ids()
        data = [talon.referral(r, ids) for r in created]
        return (None if silent else {"totalResultSize": len(created), "data": data}), None

    result = await run(door, request, call)
    return Response(status_code=204) if result is None else json_response(result, 201)


async def balances(request: Request, door: Door) -> Response:
    program, profile_id = path_id(request, "loyaltyProgramId"), path_id(request, "integrationId")
    end = moment(request, "endDate")

    def call(ws: service.Workspace) -> dict[str, Any]:
        found = service.balances(ws, profile_id, program)
        return talon.balance(next(iter(found.values())))

    return json_response(await door.call(call, end))


async def transactions(request: Request, door: Door) -> Response:
    program, profile_id = path_id(request, "loyaltyProgramId"), path_id(request, "integrationId")
    start, end = moment(request, "startDate"), moment(request, "endDate")
    size = integer(request, "pageSize", 50, 1, 1000)
    skip = integer(request, "skip", 0, 0, 2**31)
    if request.query_params.get("subledgerId"):
        raise ApiError(
            400,
            "query subledgerId: refcamp's loyalty programs have no subledgers (the whole ledger is "
            "the program's); leave it out",
            parameter="subledgerId",
        )

    def call(ws: service.Workspace) -> dict[str, Any]:
        # Newest first: "If no filters are applied, the last 50 loyalty transactions ... are
        # returned" (getLoyaltyProgramProfileTransactions); skip pages back in time.
        entries = [
            e
            for e in reversed(service.ledger(ws, profile_id, program))
            if (start is None or e.created >= start) and (end is None or e.created <= end)
        ]
        page = entries[skip : skip + size]
        has_more = skip + size < len(entries)
        return talon.transactions(page, ws.talon_ids(), ws.catalog, has_more)

    return json_response(await door.call(call))


async def inventory(request: Request, door: Door) -> Response:
    profile_id = path_id(request, "integrationId")
    parts = [p for p in routes.INVENTORY.flags if flag(request, p)]

    def call(ws: service.Workspace) -> dict[str, Any]:
        found = service.inventory(ws, profile_id)
        return talon.inventory(found, ws.talon_ids(), ws.catalog, parts)

    return json_response(await door.call(call))


async def reserve_coupon(request: Request, door: Door) -> Response:
    code = path_id(request, "couponValue")
    customers = payloads.read_reservation_body(await body_of(request, door))
    unreserve = request.method == "DELETE"

    def call(ws: service.Workspace) -> tuple[dict[str, Any] | None, None]:
        if unreserve:
            service.unreserve_coupon(ws, code, customers)
            return None, None
        coupon, _ = service.reserve_coupon(ws, code, customers)
        return talon.coupon(coupon, ws.talon_ids()), None

    result = await run(door, request, call)
    return Response(status_code=204) if result is None else json_response(result, 201)


async def reserved_customers(request: Request, door: Door) -> Response:
    code = path_id(request, "couponValue")

    def call(ws: service.Workspace) -> dict[str, Any]:
        ids = ws.talon_ids()
        found = service.reserved_customers(ws, code)
        data = [talon.profile(p, ids, views.stats, views.audiences) for p, views in found]
        return {"totalResultSize": len(data), "data": data}

    return json_response(await door.call(call))


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

    return json_response(await run(door, request, call), 201)


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


def _erasure(request: Request) -> str | None:
    """The integration id an erasure request names (DELETE /v1/customer_data/{id}), else None."""
    if request.method == "DELETE" and routes.ERASURE.pattern.match(request.url.path):
        return str(request.path_params.get("integrationId", ""))
    return None


def loggable(request: Request, message: str) -> str:
    """A failure's message as the request log keeps it: without the id of an erasure."""
    secret = _erasure(request)
    if secret and request_log.Erased(secret).names_row("", None, None, [message]):
        return "refused (its message named the id, which an erasure request does not log)"
    return message


def is_dry(request: Request) -> bool:
    """Whether a request asks for a dry run (a malformed dry flag counts as one: not logged)."""
    try:
        return flag(request, "dry")
    except ApiError:
        return True
