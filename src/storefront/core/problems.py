"""RFC 9457 problem details: the schema, the renderer and the exception handlers."""

import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from storefront.core.errors import (
    AppError,
    Conflict,
    ServiceUnavailable,
    Unprocessable,
    UnsupportedMediaType,
    causes_named,
    database_unavailable,
)
from storefront.core.request_id import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
JSON_MEDIA_TYPES = ("application/json",)
FORM_MEDIA_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

STATUS_CODES: Mapping[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
    507: "INSUFFICIENT_STORAGE",
}

DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    # SQLAlchemy's asyncpg adapter's own DB-API errors, unwrapped: what its BEGIN raises
    # when statements(session) starts the transaction itself (core/db.py).
    sa_exc.EmulatedDBAPIException,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

logger = logging.getLogger("storefront.errors")


class Problem(BaseModel):
    type: str = Field(examples=["/problems/not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str
    instance: str = Field(examples=["/api/v1/items/42"])
    code: str = Field(examples=["NOT_FOUND"])
    request_id: str | None


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(Problem):
    errors: list[FieldError]


def code_for_status(status: int) -> str:
    return STATUS_CODES.get(status, f"HTTP_{status}")


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "/problems/" + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
        "request_id": current_request_id(),
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def render_app_error(request: Request, error: AppError) -> Response:
    return problem_response(
        request,
        status=error.status_code,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers=error.headers,
        extra=error.extra,
    )


async def app_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return render_app_error(request, exc)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    known = _known_status(status)
    title = known.phrase if known else "Error"
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    return problem_response(
        request,
        status=status,
        code=code_for_status(status),
        title=title,
        detail=detail or _default_detail(request, status, known),
        headers=exc.headers,
    )


def _known_status(status: int) -> HTTPStatus | None:
    try:
        return HTTPStatus(status)
    except ValueError:
        return None


def _default_detail(request: Request, status: int, known: HTTPStatus | None) -> str:
    if status == 404:
        return f"Nothing is served at {request.url.path}."
    if status == 405:
        return f"{request.method} is not allowed on {request.url.path}."
    return (known.description or known.phrase) if known else f"HTTP {status}."


def _is_wrong_media_type(request: Request, errors: Iterable[Any]) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type or content_type in FORM_MEDIA_TYPES:
        return False
    if content_type in JSON_MEDIA_TYPES or content_type.endswith("+json"):
        return False
    return any(error.get("loc", ())[:1] == ("body",) for error in errors)


def field_errors(errors: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]


async def validation_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if _is_wrong_media_type(request, errors):
        return render_app_error(request, UnsupportedMediaType("Send the body as application/json."))
    return problem_response(
        request,
        status=422,
        code="VALIDATION_ERROR",
        title="Unprocessable Content",
        detail="The request did not validate.",
        extra={"errors": field_errors(errors)},
    )


async def dependency_unavailable_handler(request: Request, exc: Exception) -> Response:
    logger.warning("a backing service is unavailable: %s", type(exc).__name__)
    return render_app_error(
        request, ServiceUnavailable("A backing service is unavailable; retry shortly.")
    )


def _sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a driver error, also under SQLAlchemy's and asyncpg's wrappers."""
    seen: BaseException | None = error
    while seen is not None:
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(state, str):
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return ""


async def database_error_handler(request: Request, exc: Exception) -> Response:
    """Any error of the database, as SQLAlchemy wraps it or as asyncpg raises it (from the
    statements run on the driver itself, core/statements.py)."""
    unavailable = database_unavailable(exc)
    if unavailable is not None:
        logger.warning(
            "database unavailable: %s", causes_named(exc), extra={"path": request.url.path}
        )
        return render_app_error(request, unavailable)
    state = _sqlstate(exc)
    if isinstance(exc, sa_exc.IntegrityError) or state.startswith("23"):
        logger.warning("integrity error reached the edge: %s", state or type(exc).__name__)
        return render_app_error(request, Conflict())
    # SQLSTATE class 22, "data exception": a value the database refuses to store or
    # compare (NUL in PostgreSQL text, a number beyond its column). The client's input.
    if isinstance(exc, sa_exc.DataError) or state.startswith("22"):
        logger.info("database refused a value: %s", state or type(exc).__name__)
        return render_app_error(
            request, Unprocessable("The request contains a value that cannot be stored.")
        )
    logger.error("database error", exc_info=exc)
    return internal_error_response(request)


def internal_error_response(request: Request) -> Response:
    return problem_response(
        request,
        status=500,
        code="INTERNAL_ERROR",
        title="Internal Server Error",
        detail="The server could not complete the request.",
    )


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _handlers() -> dict[type[Exception], Handler]:
    handlers: dict[type[Exception], Handler] = {
        AppError: app_error_handler,
        HTTPException: http_exception_handler,
        RequestValidationError: validation_exception_handler,
    }
    # Every kind of DBAPIError (IntegrityError, OperationalError, …); the pool's timeout
    # and disconnections; the errors that SQLAlchemy does not wrap.
    for database_error in DATABASE_ERRORS:
        handlers[database_error] = database_error_handler
    # Raised by drivers below SQLAlchemy's wrapping, or by Redis and other clients; a host
    # name that does not resolve (DNS down), whichever client looked it up; redis-py's
    # connection errors, which do not derive from the builtin ones.
    for unavailable in (
        ConnectionError,
        TimeoutError,
        socket.gaierror,
        RedisConnectionError,
        RedisTimeoutError,
    ):
        handlers[unavailable] = dependency_unavailable_handler
    return handlers


HANDLERS = _handlers()


def install_problem_handlers(app: FastAPI) -> None:
    for error, handler in HANDLERS.items():
        app.add_exception_handler(error, handler)


async def problem_for(request: Request, error: Exception) -> Response | None:
    """The problem response FastAPI's handlers would give `error`, for code that runs
    before them (a middleware); None for an error nothing expects (a 500)."""
    for kind in type(error).__mro__:
        handler = HANDLERS.get(kind)
        if handler is not None:
            return await handler(request, error)
    return None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses an operation can answer."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = ValidationProblem if status == 422 else Problem
        documented[status] = {
            "description": HTTPStatus(status).phrase,
            "content": {
                PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    return documented
