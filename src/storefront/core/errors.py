"""One error hierarchy: services raise these, one handler renders RFC 9457 problems."""

from collections.abc import Mapping
from typing import Any, ClassVar


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
