"""The console: pages in the browser beside the Integration API (`refcamp serve`, same host and
port, every path outside /v1 and /v2): campaigns with a switch, the requests as they arrive with
their effects and explanations, one customer's everything, and the forecast.

Server-rendered HTML (Jinja2, autoescaped: ids and attributes are user data, always text), one
CSS file and a little plain JavaScript: every page works without JavaScript except the live feed.
Pages read the state file through the server's Door, like the API's endpoints; the only thing they
change is a campaign's state (a POST with a CSRF token). Imported by `refcamp serve` alone.

A posted form is read with the API's bounds (at most MAX_FORM bytes, within the server's body
timeout: 413 and 408 on the console's error page), and wrong keys on the login page are
throttled per client (auth.Throttle: 429 with Retry-After)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from refcamp.console.auth import COOKIE, client_of
from refcamp.console.web import HERE, BodyReader, Console, safe_next


def create_console(door: Any, key: str, read_body: BodyReader) -> Any:
    """The console's ASGI app on the server's Door, signed in with `key`, reading posted forms
    with the server's `read_body`."""
    from refcamp.console.pages import campaigns, customers, forecast, requests

    console = Console(door, key, read_body)

    async def home(request: Request) -> Response:
        return RedirectResponse("/requests" if console.keys.signed_in(request) else "/login", 303)

    async def login_form(request: Request) -> Response:
        target = safe_next(request.query_params.get("next", "/requests"))
        return console.page(request, "login.html", next=target, message=None)

    async def login(request: Request) -> Response:
        client = client_of(request)
        wait = console.throttle.wait(client)
        if wait:  # refused unread, the right key too: waiting is not a time to keep guessing
            message = (
                f"Too many wrong keys from your address: try again in {wait} "
                f"second{'' if wait == 1 else 's'} "
                f"({console.throttle.FREE} tries, then each wrong key doubles the wait)."
            )
            target = safe_next(request.query_params.get("next", "/requests"))
            response = console.page(request, "login.html", 429, next=target, message=message)
            response.headers["Retry-After"] = str(wait)
            return response
        fields = await console.form(request)
        given = fields.get("key", "")
        target = safe_next(fields.get("next", "/requests"))
        if not console.keys.is_key(given.strip()):
            if given.strip():
                console.throttle.failed(client)
            message = (
                "That is not this server's API key. Use the key `refcamp serve` printed when it "
                "started (or the one given with --api-key or REFCAMP_API_KEY)."
                if given.strip()
                else "Enter the API key `refcamp serve` printed when it started."
            )
            return console.page(request, "login.html", 401, next=target, message=message)
        console.throttle.signed_in(client)
        response = RedirectResponse(target, 303)
        # No max_age: the cookie ends with the browser session.
        response.set_cookie(COOKIE, console.keys.session, httponly=True, samesite="strict")
        return response

    async def logout(request: Request) -> Response:
        fields = await console.form(request)
        if not console.keys.form_is_ours(request, fields.get("csrf", "")):
            message = "This form did not come from the console's own page (CSRF check): reload."
            return console.page(request, "error.html", 403, message=message)
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

    async def refused(request: Request, error: Exception) -> Response:
        # A form over the cap (413) or too slow (408), and the console's 404 and 405: the
        # console's error page, the message as text.
        assert isinstance(error, HTTPException)
        response = console.page(request, "error.html", error.status_code, message=error.detail)
        response.headers.update(error.headers or {})  # 405's Allow
        return response

    return Guarded(Starlette(routes=routes, exception_handlers={HTTPException: refused}))


# What every console answer says to the browser: run only the console's own script and style
# (an injected <script> would not run even if some text escaped escaping), never inside another
# site's frame, no referrer to other sites, and nothing of a signed-in page kept in a cache.
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: under no-referrer a form POST says Origin: null, which the
    # CSRF check must refuse.
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class Guarded:
    """The console app with HEADERS on every answer (an ASGI wrapper: no extra task per request,
    unlike Starlette's BaseHTTPMiddleware)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in HEADERS}
                kept = [h for h in message.get("headers", []) if h[0].lower() not in names]
                message = {**message, "headers": kept + HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)
