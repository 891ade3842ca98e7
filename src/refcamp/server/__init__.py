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

import contextlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from refcamp import routes
from refcamp.server.answers import ApiError, failure
from refcamp.server.door import BODY_SECONDS, Door
from refcamp.server.endpoints import HANDLERS, loggable, logged_line
from refcamp.server.reading import MAX_BODY, read_body

__all__ = ["BODY_SECONDS", "MAX_BODY", "ApiError", "Door", "Gate", "create_app", "read_body"]

# Every path the Integration API has, emulated or not, for naming a path parameter.
TEMPLATES = tuple(e.path for e in routes.EMULATED + routes.NOT_EMULATED)


def _guard(
    endpoint: routes.Endpoint, door: Door, debug: bool
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint whose failures become Talon.One's error bodies (and are logged)."""
    handler = HANDLERS[endpoint]

    async def handle(request: Request) -> Response:
        try:
            _known_query(request, endpoint)
            return await handler(request, door)
        except Exception as error:
            failed = failure(error, debug)
        line = logged_line(request)
        if line is not None:
            with contextlib.suppress(Exception):  # logging never changes the answer
                door.log_failure(line, failed.status, loggable(request, failed.message))
        return failed.response()

    return handle


def _known_query(request: Request, endpoint: routes.Endpoint) -> None:
    """A query parameter the endpoint does not take is refused by name: an application that sends
    one expects something of it, and silently ignoring it would hide that refcamp does not."""
    for name in request.query_params:
        if name not in endpoint.query:
            takes = ", ".join(endpoint.query) or "none"
            raise ApiError(
                400,
                f"query {name}: not a parameter of {endpoint.name} (it takes: {takes})",
                parameter=name,
            )


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
        handler = _guard(endpoint, door, debug)
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
