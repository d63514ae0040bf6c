"""One structured access-log line per request, and the X-Process-Time header."""

import time

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "storefront.access"
access_logger = structlog.get_logger()


def route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_timing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers.append("X-Process-Time", f"{time.perf_counter() - started:.6f}")
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            client = scope.get("client")
            state = scope.get("state") or {}
            access_logger.info(
                "request",
                logger=ACCESS_LOGGER,
                method=scope["method"],
                path=scope["path"],
                route=route_template(scope),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                client=client[0] if client else None,
                user_id=state.get("user_id"),
            )
