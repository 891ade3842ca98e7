"""What every console page shares: the Console (the Door, the key's tokens, the templates),
reading a posted form, and the navigation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from refcamp.console.auth import Keys

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
        # An id in a link's path: every character but letters and digits escaped, "/" too
        # (Jinja's urlencode keeps "/", which would make another path).
        environment.filters["segment"] = segment
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
            # Campaign files that do not validate (a half-saved edit): the server keeps serving
            # the last ones that did, and every page says so.
            broken=self.door.broken,
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


def segment(value: Any) -> str:
    """A value as one path segment of a URL."""
    return quote(str(value), safe="")


MAX_FORM = 64 << 10  # bytes: the console's forms are a key, a token and a state


async def form(request: Request) -> dict[str, str]:
    """A posted form's fields (application/x-www-form-urlencoded, the only kind the console's
    forms send), read here rather than through python-multipart: one dependency fewer."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    try:
        fields = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(fields)


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this console only (never another site)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/requests"
    return target
