"""Customer: find a customer by integration id, then everything refcamp holds of them — the
attributes, audiences, sessions, referral codes (as advocate and as friend), coupons, and per
loyalty program the ledger with its balances and a chart of the balance over time.

The reads are the CLI's: `profile show` (service.inventory), `loyalty balance` and `loyalty
ledger` (service.balances, service.ledger; the inventory carries the balances), `referral list
--advocate` (the inventory's codes, with the friends each brought), plus service.history for the
sessions and the codes redeemed as a friend."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from refcamp import service
from refcamp.console import charts
from refcamp.console.web import segment
from refcamp.errors import NotFoundError
from refcamp.render import cell_text, short_time

SESSIONS_SHOWN = 100  # the newest; the page says how many there are in all
LEDGER_SHOWN = 500  # per program, the newest (the chart and balances count every entry)


def _limit(used: int, limit: int) -> str:
    return f"{used}/{limit or '∞'}"


def _read(ws: Any, profile_id: str) -> dict[str, Any]:
    """Everything the page shows, read in one go on the server's workspace."""
    inventory = service.inventory(ws, profile_id)
    history = service.history(ws, profile_id, SESSIONS_SHOWN)
    entries = service.ledger(ws, profile_id)
    return {
        "inventory": inventory,
        "history": history,
        "entries": entries,
        "names": dict(ws.catalog.program_names),
    }


def _program(program: str, name: str, balance: Any, entries: list[Any], now: Any) -> dict:
    reversed_ids = {e.reverses for e in entries if e.reverses}
    rows = []
    for e in entries[-LEDGER_SHOWN:]:
        sign = "+" if e.type == "addition" else "-"
        note = ""
        if e.reverses:
            note = "reverses an earlier entry"
        elif e.transaction_uuid in reversed_ids:
            note = "rolled back"
        rows.append(
            {
                "time": short_time(e.created),
                "type": e.type,
                "amount": f"{sign}{e.amount}",
                "reason": e.name,
                "session": e.session_id or "",
                "start": short_time(e.start_date),
                "expiry": short_time(e.expiry_date) or "never",
                "note": note,
            }
        )
    points = charts.balance_over_time(entries, now)
    return {
        "id": program,
        "name": name,
        "balance": balance,
        "entries": rows,
        "entry_count": len(entries),
        "chart": charts.steps(points) if entries else None,
        "latest": points[-1][1] if points else 0,
    }


def _session(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "state": s.state,
        "total": f"{s.total:.2f}",
        "created": short_time(s.created),
        "referral": s.referral_code or "",
        "coupons": ", ".join(s.coupon_codes),
    }


def _advocate_code(r: Any, friends: list[str]) -> dict[str, Any]:
    return {
        "code": r.code,
        "campaign": r.campaign_id,
        "uses": _limit(r.usage_counter, r.usage_limit),
        "friends": friends,
        "expiry": short_time(r.expiry_date) or "never",
    }


def _coupon(c: Any, uses: int, profile_id: str) -> dict[str, Any]:
    return {
        "code": c.code,
        "campaign": c.campaign_id,
        "uses": uses,
        "counter": _limit(c.usage_counter, c.usage_limit),
        "reserved": c.recipient_id == profile_id,
    }


def _customer(read: dict[str, Any]) -> dict[str, Any]:
    inventory, history = read["inventory"], read["history"]
    profile, (closed, sales, last) = inventory.profile, inventory.views.stats
    by_program: dict[str, list[Any]] = {}
    for entry in read["entries"]:
        by_program.setdefault(entry.program_id, []).append(entry)
    return {
        "id": profile.id,
        "facts": [
            ("created", short_time(profile.created)),
            ("last activity", short_time(profile.updated) if last is None else last),
            ("closed sessions", str(closed)),
            ("total sales", f"{sales:.2f}"),
        ],
        "attributes": [(k, cell_text(v)) for k, v in profile.attributes.items()],
        "audiences": inventory.views.audiences,
        "sessions": [_session(s) for s in history.sessions],
        "session_count": history.session_count,
        "advocate": [_advocate_code(r, friends) for r, friends in inventory.referrals],
        "friend": [
            {"code": r.code, "campaign": r.campaign_id, "advocate": r.advocate_id, "uses": uses}
            for r, uses in history.redeemed
        ],
        "coupons": [_coupon(c, uses, profile.id) for c, uses in inventory.coupons],
        "programs": [
            _program(
                program,
                read["names"].get(program, program),
                balance,
                by_program.get(program, []),
                inventory.now,
            )
            for program, balance in inventory.balances.items()
        ],
        "now": short_time(inventory.now),
    }


def customer_url(profile_id: str) -> str:
    return "/customers/" + segment(profile_id)


def routes(console: Any) -> list[Route]:
    async def search(request: Request) -> Response:
        wanted = request.query_params.get("id", "")
        if not wanted.strip():
            return console.page(request, "customers.html", wanted=wanted, message=None)
        try:
            profile = await console.read(lambda ws: service.get_profile(ws, wanted))
        except NotFoundError as error:
            return console.page(request, "customers.html", 404, wanted=wanted, message=str(error))
        return RedirectResponse(customer_url(profile.id), 303)

    async def customer(request: Request) -> Response:
        profile_id = request.path_params["profile"]
        if not profile_id:
            return RedirectResponse("/customers", 303)
        try:
            read = await console.read(lambda ws: _read(ws, profile_id))
        except NotFoundError as error:
            message = str(error)
            return console.page(request, "customers.html", 404, wanted=profile_id, message=message)
        # The chart's balances are computed off the event loop: the API goes on answering.
        shown = await asyncio.to_thread(_customer, read)
        return console.page(request, "customer.html", customer=shown, url=customer_url)

    return [
        Route("/customers", console.guarded(search), methods=["GET"]),
        Route("/customers/{profile:path}", console.guarded(customer), methods=["GET"]),
    ]
