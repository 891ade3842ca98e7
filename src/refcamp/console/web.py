"""What every console page shares: the Console (the Door, the key's tokens, the templates,
reading a posted form, the sign-in throttle), and the navigation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from refcamp.console.auth import Keys, Throttle

HERE = Path(__file__).parent
Page = Callable[[Request], Awaitable[Response]]
# The server's body reader (server.read_body): (request, limit, seconds) -> the body's bytes, or
# HTTPException 413/408. Handed in by the server (the console does not import it back).
BodyReader = Callable[[Request, int, float], Awaitable[bytes]]

# A posted form's cap. The console's forms are a key, a CSRF token, a state and the page to go
# back to after signing in (`next`): the customer page of an id of 1,000 four-byte characters,
# percent-encoded in the page's URL and again in the form, is about 20 KB; nothing else comes
# close.
MAX_FORM = 64 << 10  # bytes

# The pages' order in the navigation bar: (path, title).
NAVIGATION = (
    ("/requests", "Requests"),
    ("/campaigns", "Campaigns"),
    ("/customers", "Customer"),
    ("/forecast", "Forecast"),
)


class Console:
    """What every page needs: the Door to the state file, the key's tokens, the templates."""

    def __init__(self, door: Any, key: str, read_body: BodyReader) -> None:
        self.door = door
        self.keys = Keys(key)
        self.throttle = Throttle()
        self.read_body = read_body
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

    async def form(self, request: Request) -> dict[str, str]:
        """A posted form's fields (application/x-www-form-urlencoded, the only kind the console's
        forms send), read here rather than through python-multipart (one dependency fewer) with
        the API's bounds: 413 past MAX_FORM bytes (declared or received, never buffered past it),
        408 if it has not arrived within the server's body timeout (HTTPException; the console's
        error page says it). A body that is not such a form reads as no fields."""
        body = await self.read_body(request, MAX_FORM, self.door.body_seconds)
        try:
            fields = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return {}
        return dict(fields)

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


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this console only (never another site)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/requests"
    return target
