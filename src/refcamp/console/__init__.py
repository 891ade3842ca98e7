"""The console: pages in the browser beside the Integration API (`refcamp serve`, same host and
port, every path outside /v1 and /v2): campaigns with a switch, the requests as they arrive with
their effects and explanations, one customer's everything, and the forecast.

Server-rendered HTML (Jinja2, autoescaped: ids and attributes are user data, always text), one
CSS file and a little plain JavaScript: every page works without JavaScript except the live feed.
Pages read the state file through the server's Door, like the API's endpoints; the only thing they
change is a campaign's state (a POST with a CSRF token). Imported by `refcamp serve` alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from refcamp.console.auth import COOKIE, Keys

HERE = Path(__file__).parent
Page = Callable[[Request], Awaitable[Response]]

# The pages' order in the navigation bar: (path, title).
NAVIGATION = (
    ("/requests", "Requests"),
    ("/campaigns", "Campaigns"),
    ("/customers", "Customer"),
    ("/forecast", "Forecast"),
)


class Console:
    """What every page needs: the Door to the state file, the key's tokens, the templates."""

    def __init__(self, door: Any, key: str) -> None:
        self.door = door
        self.keys = Keys(key)
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every value is text, never markup
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates = Jinja2Templates(env=environment)

    async def read(self, fn: Callable[[Any], Any]) -> Any:
        """Run `fn(workspace)` on the server's state file, one request at a time."""
        return await self.door.call(fn)

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        context.update(
            navigation=NAVIGATION,
            here=request.url.path,
            csrf=self.keys.csrf,
            signed_in=self.keys.signed_in(request),
        )
        return self.templates.TemplateResponse(request, template, context, status_code=status)

    def guarded(self, page: Page) -> Page:
        """A page for the signed-in only: anyone else goes to the login page first."""

        async def handle(request: Request) -> Response:
            if not self.keys.signed_in(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
            return await page(request)

        return handle


def _safe_next(target: str) -> str:
    """Where to go after signing in: a path of this console only (never another site)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/requests"
    return target


def create_console(door: Any, key: str) -> Starlette:
    from refcamp.console.pages import campaigns, customers, forecast, requests

    console = Console(door, key)

    async def home(request: Request) -> Response:
        return RedirectResponse("/requests" if console.keys.signed_in(request) else "/login", 303)

    async def login_form(request: Request) -> Response:
        target = _safe_next(request.query_params.get("next", "/requests"))
        return console.page(request, "login.html", next=target, message=None)

    async def login(request: Request) -> Response:
        form = await request.form()
        given = str(form.get("key", ""))
        target = _safe_next(str(form.get("next", "/requests")))
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
