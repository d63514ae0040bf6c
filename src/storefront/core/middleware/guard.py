"""The error boundary and the body cap: the innermost duties of the middleware stack.

An unexpected exception becomes a generic 500 problem (the traceback goes to the log
only); request bodies are capped. The boundary must sit inside CORS so its 500 still gets
the CORS headers: with CORS configured it is this layer of its own, under CORS; without,
the observability middleware does both jobs itself (one ASGI layer less per request).
"""

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.middleware.body_limit import BodyLimits
from storefront.core.problems import internal_error_response

logger = logging.getLogger("storefront.errors")


async def answer_unhandled(
    scope: Scope, receive: Receive, send: Send, *, response_started: bool
) -> None:
    """Log the exception being handled, then answer 500, or re-raise if too late to."""
    logger.exception("unhandled error", extra={"path": scope["path"]})
    if response_started:
        raise
    await internal_error_response(Request(scope))(scope, receive, send)


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
            await answer_unhandled(scope, receive, send, response_started=response_started)
