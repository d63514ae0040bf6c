"""The innermost layer: caps request bodies, and turns an unexpected exception into a
generic 500 problem.

Innermost so the 500 still passes through CORS and observability (ids, headers, metrics,
access log); the two jobs share one layer because each ASGI layer costs every request.
"""

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.middleware.body_limit import BodyLimits
from storefront.core.problems import internal_error_response

logger = logging.getLogger("storefront.errors")


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, body_limits: BodyLimits) -> None:
        self.app = app
        self.body_limits = body_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        receive, refusal = self.body_limits.apply(scope, receive)
        if refusal is not None:
            await refusal(scope, receive, send)
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
            await internal_error_response(Request(scope))(scope, receive, send)
