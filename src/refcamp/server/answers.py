"""What a request is answered when it fails: Talon.One's error body (ErrorResponseWithStatus) with
the status refcamp's error calls for (400 invalid input with a JSON pointer to the field, 401, 404,
409 a conflict with the current state, 503 with Retry-After while the database cannot be reached
or written, 500 a bug), and the JSON every answer is written as."""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from refcamp import talon
from refcamp.errors import (
    CampaignFileError,
    ConflictError,
    DatabaseError,
    InputError,
    NotFoundError,
    RefcampError,
    StateFileError,
    StateUnreachable,
)

RETRY_SECONDS = 1  # what a 503 tells a client to wait (Retry-After)


class ApiError(Exception):
    """An answer other than 2xx, with what Talon.One's error body says."""

    def __init__(
        self,
        status: int,
        message: str,
        pointer: str | None = None,
        parameter: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.message = message
        self.source = {"pointer": pointer} if pointer is not None else {}
        if parameter is not None:
            self.source = {"parameter": parameter}

    def response(self) -> Response:
        title = HTTPStatus(self.status).phrase
        error = {"title": title, "details": self.message, "source": self.source}
        body = talon.error(self.status, self.message, [error])
        headers = {"WWW-Authenticate": "ApiKey-v1"} if self.status == 401 else {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return json_response(body, self.status, headers)


# An input error names its field as a dotted path first ("customerSession.cartItems[0].price:
# expected a number"); the HTTP answer points at it with a JSON pointer.
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*): ")


def pointer(message: str) -> str | None:
    match = _FIELD.match(message)
    if match is None:
        return None
    path = re.sub(r"\[(\d+)\]", r".\1", match.group(1))
    return "/" + "/".join(path.split("."))


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status, headers, media_type="application/json")


def status_of(error: Exception) -> int:
    if isinstance(error, StateUnreachable) or getattr(error, "transient", False):
        return 503  # the database cannot be reached or written now: worth trying again
    if isinstance(error, StateFileError | CampaignFileError | DatabaseError):
        return 500  # the server's own state or files, not the request, are at fault
    if isinstance(error, InputError):
        return 400
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError | RefcampError):
        return 409
    return 500


def failure(error: Exception, debug: bool) -> ApiError:
    """What a request that failed is answered (with debug, a bug is raised instead)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, RefcampError):
        status = status_of(error)
        if status == 500 and debug and isinstance(error, DatabaseError):
            raise error
        message = str(error)
        retry = RETRY_SECONDS if status == 503 else None
        return ApiError(status, message, pointer(message) if status == 400 else None, None, retry)
    if debug:
        raise error
    return ApiError(500, f"internal error: {type(error).__name__}: {error}")
