"""Errors as JSON: every error the server sends is ``{"code": N, "message": "..."}``.

That is the shape the OSV API answers errors with (``code`` is the gRPC status code: 3 for an
invalid argument, 5 for not found...), so OSV clients read seckb's errors as they read osv.dev's,
and seckb's own endpoints use the same shape.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

GRPC_CODES = {
    400: 3,  # INVALID_ARGUMENT
    404: 5,  # NOT_FOUND
    405: 12,  # UNIMPLEMENTED
    408: 4,  # DEADLINE_EXCEEDED
    411: 3,
    413: 8,  # RESOURCE_EXHAUSTED
    414: 8,
    415: 3,
    422: 9,  # FAILED_PRECONDITION
    429: 8,
    500: 13,  # INTERNAL
    502: 14,
    503: 14,  # UNAVAILABLE
}
"""HTTP status -> the gRPC status code OSV's API puts in ``code``."""


class ApiError(Exception):
    """An error answered as JSON with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        """Keep the HTTP status, the message shown to the client and extra headers."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str) -> bytes:
    """The JSON body of an error."""
    document = {"code": GRPC_CODES.get(status, 2), "message": message}
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error response (``application/json``)."""
    body = error_body(status, message)
    return Response(body, status, headers=headers, media_type="application/json")


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
        headers["Allow"] = ", ".join(_allowed(request))
    return error_response(exc.status_code, message, headers)


def _allowed(request: Request) -> list[str]:
    """Every method some route of the path answers (one path may have a route per method)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg')}"
        for error in exc.errors()
    )
    return error_response(400, f"invalid request: {problems}")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"code": 13, "message": f"internal error ({type(exc).__name__}); see the server log"},
        status_code=500,
    )


def install_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` as JSON (ours, routing, validation, unexpected)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
