"""The console: pages in the browser beside the Integration API (`refcamp serve`, same host and
port, every path outside /v1 and /v2): campaigns with a switch, the requests as they arrive with
their effects and explanations, one customer's everything, and the forecast.

Server-rendered HTML (Jinja2, autoescaped: ids and attributes are user data, always text), one
CSS file and a little plain JavaScript: every page works without JavaScript except the live feed.
Pages read the state file through the server's Door, like the API's endpoints; the only thing they
change is a campaign's state (a POST with a CSRF token). Imported by `refcamp serve` alone."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from refcamp.console.auth import COOKIE
from refcamp.console.web import HERE, Console, form, safe_next


def create_console(door: Any, key: str) -> Starlette:
    from refcamp.console.pages import campaigns, customers, forecast, requests

    console = Console(door, key)

    async def home(request: Request) -> Response:
        return RedirectResponse("/requests" if console.keys.signed_in(request) else "/login", 303)

    async def login_form(request: Request) -> Response:
        target = safe_next(request.query_params.get("next", "/requests"))
        return console.page(request, "login.html", next=target, message=None)

    async def login(request: Request) -> Response:
        fields = await form(request)
        given = fields.get("key", "")
        target = safe_next(fields.get("next", "/requests"))
        if not console.keys.is_key(given.strip()):
            message = (
                "That is not this server's API key. Use the key `refcamp serve` printed when it "
                "started (or the one given with --api-key or REFCAMP_API_KEY)."
                if given.strip()
                else "Enter the API key `refcamp serve` printed when it started."
            )
            return console.page(request, "login.html", 401, next=target, message=message)
        response = RedirectResponse(target, 303)
        # No max_age: the cookie ends with the browser session.
        response.set_cookie(COOKIE, console.keys.session, httponly=True, samesite="strict")
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response

    routes = [
        Route("/", home),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    for module in (requests, campaigns, customers, forecast):
        routes += module.routes(console)
    return Starlette(routes=routes)
