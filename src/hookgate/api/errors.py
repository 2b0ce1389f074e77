"""The management API's one error shape, and the one table from our exception types to HTTP answers.

Every error answer is ``{"error": {"code": ..., "message": ...[, "details": ...]}}``. Which status and code an
exception becomes is decided by its type alone (`ERROR_TABLE`, most specific type first), never by its text;
`install` registers the handlers on an application.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from hookgate.api.strict import MAX_BODY_DEPTH
from hookgate.errors import (
    ConfigError,
    ConflictError,
    DuplicateError,
    HookgateError,
    InvalidQueryError,
    NotFoundError,
    StoreError,
)

__all__ = [
    "ERROR_RESPONSES",
    "ERROR_TABLE",
    "ErrorBody",
    "ErrorResponse",
    "Forbidden",
    "Unauthorized",
    "error_body",
    "install",
]


class Unauthorized(HookgateError):
    """No valid bearer token came with the request (absent, unknown or revoked)."""


class Forbidden(HookgateError):
    """The token is valid but may not do this (an application-scoped token on an admin operation)."""


# type -> (status, code, message); a None message means the exception's own message, which for these types
# is written for the API caller (it names the field or the record); the others hide theirs
ERROR_TABLE: dict[type[HookgateError], tuple[int, str, str | None]] = {
    Unauthorized: (401, "unauthorized", None),
    Forbidden: (403, "forbidden", None),
    NotFoundError: (404, "not_found", "no such resource"),
    DuplicateError: (409, "conflict", None),
    # the services retry version-checked writes; this is what is left when they kept losing
    ConflictError: (409, "conflict", "the resource changed concurrently; try again"),
    InvalidQueryError: (422, "invalid", None),
    ConfigError: (422, "invalid", None),
    StoreError: (503, "store_unavailable", "the store is unavailable"),
    HookgateError: (400, "bad_request", None),
}


def answer_for(exc: HookgateError) -> tuple[int, str, str]:
    """The status, code and message for ``exc``: the entry of its most specific type in `ERROR_TABLE`."""
    for kind in type(exc).__mro__:
        entry = ERROR_TABLE.get(kind)
        if entry is not None:
            status, code, message = entry
            return status, code, str(exc) if message is None else message
    return 400, "bad_request", str(exc)  # unreachable: HookgateError itself is in the table


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code": ..., "message": ...[, "details": ...]}}``."""
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return body


def _error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad request"},
    401: {"model": ErrorResponse, "description": "Missing or invalid token"},
    403: {"model": ErrorResponse, "description": "The token may not do this"},
    404: {"model": ErrorResponse, "description": "Not found (or not visible to this token)"},
    409: {"model": ErrorResponse, "description": "Conflict"},
    422: {"model": ErrorResponse, "description": "Invalid request"},
    500: {"model": ErrorResponse, "description": "Unexpected error (the details are in the server log)"},
}

_STATUSES = frozenset(s.value for s in HTTPStatus)

# what the router and FastAPI's body parsing raise as HTTPException, in our words
_HTTP_ERRORS = {
    404: ("not_found", "no such resource"),
    405: ("method_not_allowed", "this method is not allowed here (see the Allow header)"),
}


def _unreadable_body(exc: BaseException | None) -> str | None:
    """Why FastAPI could not parse a JSON body (it raises a bare 400 from the parser's exception)."""
    if isinstance(exc, UnicodeDecodeError):
        return "the request body is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return f"the request body is nested more than {MAX_BODY_DEPTH} levels deep"
    if isinstance(exc, ValueError) and "digits" in str(exc):  # sys.get_int_max_str_digits(), 4300 by default
        return "the request body has an integer with too many digits"
    if isinstance(exc, ValueError):
        return "the request body is not valid JSON"
    return None


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path (Starlette's own 405 names only the first route's)."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            allowed |= route.methods
    return ", ".join(sorted(allowed))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this answer, so the server logs the traceback; the body says nothing
    return _error(500, "internal_error", "internal server error")


async def _ours(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HookgateError):  # registered for HookgateError only
        return await _unexpected(request, exc)
    return _error(*answer_for(exc))


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for it only
        return await _unexpected(request, exc)
    details = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    return _error(422, "validation_error", "the request is invalid", details)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # registered for it only
        return await _unexpected(request, exc)
    headers = dict(exc.headers or {})
    if exc.status_code in (204, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=headers)
    unreadable = _unreadable_body(exc.__cause__) if exc.status_code == 400 else None
    if unreadable is not None:
        # the same answer as FastAPI gives a body that is not JSON at all
        details = [{"loc": ["body"], "msg": unreadable, "type": "json_invalid"}]
        return _error(422, "validation_error", "the request is invalid", details)
    phrase = HTTPStatus(exc.status_code).phrase if exc.status_code in _STATUSES else "Error"
    code, message = _HTTP_ERRORS.get(
        exc.status_code, (phrase.lower().replace(" ", "_").replace("-", "_"), phrase.lower())
    )
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    response = _error(exc.status_code, code, message)
    response.headers.update(headers)
    return response


def install(app: FastAPI) -> None:
    """Register the error handlers on ``app``: every error it answers has the one shape."""
    app.add_exception_handler(HookgateError, _ours)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
