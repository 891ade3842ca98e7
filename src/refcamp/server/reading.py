"""Reading an HTTP request: its body (bounded in size and time), query flags, numbers, times and
ids, each refused with Talon.One's error body naming the parameter or field."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from refcamp import json_text, payloads, routes
from refcamp.clock import parse_time
from refcamp.errors import InputError
from refcamp.server.answers import ApiError

if TYPE_CHECKING:
    from refcamp.server.door import Door

MAX_BODY = 1 << 20  # bytes: the largest API request body (413 past it)


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
        return json_text.json_bytes(raw)
    except json_text.TextError as error:  # named by its field, never stored as U+FFFD
        message = str(error) if error.place else f"request body: {error}"
        raise ApiError(400, message, pointer=json_text.json_pointer(error.place)) from None
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
