"""Observes each request once: its request id, X-Process-Time, the security headers, the
rate-limit headers, Prometheus metrics and one access-log line.

Id, timing, status and route template are captured by a single send wrapper and shared,
which is why they live in one middleware (measured: each extra ASGI layer, such as
asgi-correlation-id's request-id middleware, costs several µs a request, a few percent of a
bare endpoint's throughput).
"""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.access_log import log_access
from storefront.core.metrics import Metrics
from storefront.core.middleware.security_headers import SecurityHeaders
from storefront.core.ratelimit.decision import RATE_LIMIT_SCOPE_KEY, RateLimitDecision
from storefront.core.request_id import request_id_from, request_id_var
from storefront.core.response_headers import RESPONSE_HEADERS_SCOPE_KEY

UNMATCHED_ROUTE = "none"


def route_template(scope: Scope) -> str | None:
    """The matched route's full path template, also under an included router's prefix."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None,
        security_headers: SecurityHeaders,
        unmetered_routes: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.security_headers = security_headers
        self.unmetered_routes = unmetered_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "http":
                await self._observe(scope, receive, send, request_id.encode("latin-1"))
            else:
                await self.app(scope, receive, send)
        finally:
            request_id_var.reset(token)

    async def _observe(self, scope: Scope, receive: Receive, send: Send, request_id: bytes) -> None:
        started = time.perf_counter()
        status = 500
        security_headers = self.security_headers.for_path(scope["path"])

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = f"{time.perf_counter() - started:.6f}".encode()
                headers = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id),
                    (b"x-process-time", elapsed),
                    *security_headers,
                ]
                # Left by the rate-limit dependency, so that the route's errors carry it too.
                rate_limit: RateLimitDecision | None = scope.get(RATE_LIMIT_SCOPE_KEY)
                if rate_limit is not None:
                    headers.extend(rate_limit.raw_headers())
                extra: list[tuple[bytes, bytes]] | None = scope.get(RESPONSE_HEADERS_SCOPE_KEY)
                if extra is not None:
                    headers.extend(extra)
                message["headers"] = headers
            await send(message)

        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_observed)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = route_template(scope)
        if self.metrics is not None:
            self.metrics.in_flight.dec()
            # Unmatched paths share one label, so scanners cannot explode the cardinality.
            handler = route or UNMATCHED_ROUTE
            if handler not in self.unmetered_routes:
                self.metrics.observe(scope["method"], handler, status, seconds)
        client = scope.get("client")
        state = scope.get("state") or {}
        log_access(
            {
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "client": client[0] if client else None,
                "user_id": state.get("user_id"),
            }
        )
