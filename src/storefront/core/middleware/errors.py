"""The innermost boundary: an unexpected exception becomes a generic 500 problem."""

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.problems import internal_error_response

logger = logging.getLogger("storefront.errors")


class ErrorBoundaryMiddleware:
    """Sits inside every other middleware so the 500 still gets ids, headers and a log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("unhandled error", extra={"path": scope["path"]})
            if response_started:
                raise
            response = internal_error_response(Request(scope))
            await response(scope, receive, send)
