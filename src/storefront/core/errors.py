"""One error hierarchy: services raise these, one handler renders RFC 9457 problems. And
which errors of the database's drivers (asyncpg's, SQLAlchemy's wrapping of them) mean the
database is unavailable: a 503, not a 500."""

import enum
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import asyncpg
from sqlalchemy import exc as sa_exc


class AppError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    title: ClassVar[str] = "Internal Server Error"
    default_detail: ClassVar[str] = "The server could not complete the request."

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(self.detail)


class BadRequest(AppError):
    status_code = 400
    code = "BAD_REQUEST"
    title = "Bad Request"
    default_detail = "The request could not be understood."


class Unauthorized(AppError):
    status_code = 401
    code = "UNAUTHORIZED"
    title = "Unauthorized"
    default_detail = "Valid credentials are required."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    title = "Forbidden"
    default_detail = "You are not allowed to do this."


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    title = "Not Found"
    default_detail = "The resource does not exist."


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"
    title = "Conflict"
    default_detail = "The request conflicts with the current state of the resource."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Payload Too Large"
    default_detail = "The request body is larger than allowed."


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    title = "Unsupported Media Type"
    default_detail = "The request body's media type is not supported here."


class Unprocessable(AppError):
    status_code = 422
    code = "VALIDATION_ERROR"
    title = "Unprocessable Content"
    default_detail = "The request is well-formed but cannot be processed."


class RateLimited(AppError):
    status_code = 429
    code = "RATE_LIMITED"
    title = "Too Many Requests"
    default_detail = "Too many requests; retry later."


class InsufficientStorage(AppError):
    status_code = 507
    code = "INSUFFICIENT_STORAGE"
    title = "Insufficient Storage"
    default_detail = "The server has no room left to store this; retry later."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    title = "Service Unavailable"
    default_detail = "The service is temporarily unavailable; retry later."

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", "1")


class DatabaseUnavailable(ServiceUnavailable):
    default_detail = "The database is unavailable; retry shortly."


DATABASE_BUSY = "The database is busy; retry shortly."

# The server went away under the connection (shutdown, crash, a terminated backend, an
# idle-session timeout): the connection is dead. SQLSTATE class 08 is lost too.
_LOST_STATES = frozenset({"57P01", "57P02", "57P04", "57P05", "25P03"})
# No connection was made: the server is starting up, shutting down or recovering (57P03).
_UNAVAILABLE_STATES = frozenset({"57P03"})
# The server is there but overloaded: a statement cancelled by its timeout, every
# connection slot taken. The connection (if any) is sound.
_BUSY_STATES = frozenset({"57014", "53300"})
# asyncpg's own words for a connection it can no longer use: closed under it, left in the
# middle of an operation or with its protocol failed (as a server that goes away between
# two statements of a transaction leaves it: "cannot switch to state 12; another operation
# (2) is in progress"); and for its pool going away at shutdown.
_LOST_PHRASES = (
    "connection is closed",
    "another operation",
    "cannot switch to state",
    "pool is clos",
)


class _Loss(enum.Enum):
    LOST = "lost"  # the connection is dead: discard it
    UNAVAILABLE = "unavailable"  # no connection was made, or the server cannot serve
    BUSY = "busy"  # the server is overloaded; the connection is sound


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps: SQLAlchemy's `orig`, the driver's `__cause__`."""
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = getattr(link, "orig", None) or link.__cause__


def _loss_of(link: BaseException) -> _Loss | None:
    if isinstance(link, sa_exc.TimeoutError):  # no free connection in the pool in time
        return _Loss.BUSY
    if isinstance(link, sa_exc.DisconnectionError):
        return _Loss.LOST
    if isinstance(link, sa_exc.DBAPIError) and link.connection_invalidated:
        return _Loss.LOST
    if isinstance(link, asyncpg.PostgresError):
        state = link.sqlstate
        if state.startswith("08") or state in _LOST_STATES:
            return _Loss.LOST
        if state in _UNAVAILABLE_STATES:
            return _Loss.UNAVAILABLE
        return _Loss.BUSY if state in _BUSY_STATES else None
    if isinstance(link, asyncpg.InterfaceError | asyncpg.InternalClientError):
        message = str(link)
        return _Loss.LOST if any(phrase in message for phrase in _LOST_PHRASES) else None
    return None


def _loss(error: BaseException) -> _Loss | None:
    if isinstance(error, AppError):  # already decided (a read's DatabaseUnavailable)
        return None
    loss = next((loss for link in _causes(error) if (loss := _loss_of(link))), None)
    if loss is None and isinstance(error, sa_exc.OperationalError):
        # What the DB-API calls a failure of the database's operation rather than of the
        # program (SQLite's "database is locked"): a 503, as it always was.
        return _Loss.UNAVAILABLE
    return loss


def causes_named(error: BaseException) -> str:
    """The error and what it wraps, by package and type only ("sqlalchemy.DBAPIError <
    sqlalchemy.Error < asyncpg.AdminShutdownError"): a log line that names the failure
    without repeating SQL or its parameters."""
    return " < ".join(
        f"{type(link).__module__.partition('.')[0]}.{type(link).__name__}"
        for link in _causes(error)
    )


def connection_lost(error: BaseException) -> bool:
    """Whether the connection `error` came from is dead and must be discarded, never
    rolled back and returned to a pool."""
    return _loss(error) is _Loss.LOST


def database_unavailable(error: BaseException) -> DatabaseUnavailable | None:
    """The 503 for an error of a database that is unreachable, restarting, shutting down
    or too busy (SQLAlchemy's wrapping or asyncpg's own); None for any other error."""
    loss = _loss(error)
    if loss is None:
        return None
    return DatabaseUnavailable(DATABASE_BUSY if loss is _Loss.BUSY else None)
