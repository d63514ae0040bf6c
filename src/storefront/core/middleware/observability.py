"""Observes each request once: its request id, X-Process-Time, the security headers, the
rate-limit headers, Prometheus metrics and one access-log line; without CORS in between,
also the error boundary and the body cap (see guard.py).

Everything is done in one coroutine with one send wrapper, because every ASGI layer,
wrapper and coroutine level costs every request: measured with wrk on one core, this
layer was the whole of Storefront's overhead over a bare FastAPI app.
"""

import time
from collections.abc import Callable, Iterable

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.access_log import log_access
from storefront.core.metrics import Metrics
from storefront.core.middleware.body_limit import BodyLimits
from storefront.core.middleware.guard import answer_unhandled
from storefront.core.middleware.security_headers import SecurityHeaders
from storefront.core.ratelimit.decision import RATE_LIMIT_SCOPE_KEY, RateLimitDecision
from storefront.core.request_id import request_id_from, request_id_var
from storefront.kit.deprecation import Deprecation

UNMATCHED_ROUTE = "none"


def route_template(scope: Scope) -> str | None:
    """The matched route's full path template, also under an included router's prefix."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


def _decided_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Headers decided before the route ran, so that the route's errors carry them too."""
    rate_limit: RateLimitDecision | None = scope.get(RATE_LIMIT_SCOPE_KEY)
    return [] if rate_limit is None else rate_limit.raw_headers()


class ObservabilityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None,
        security_headers: SecurityHeaders,
        unmetered_routes: frozenset[str] = frozenset(),
        guard: BodyLimits | None = None,
        deprecations: Iterable[tuple[BaseRoute, Deprecation]] = (),
        api_gate: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        """`guard`: also be the error boundary and apply these body limits.
        `deprecations`: what the responses of deprecated routes announce.
        `api_gate`: what requests under /api/ go through first (without a layer of its own
        for everything else: a layer costs every request)."""
        self.app = app
        self.api_app = api_gate(app) if api_gate is not None else app
        self.metrics = metrics
        self.security_headers = security_headers
        self.unmetered_routes = unmetered_routes
        self.guard = guard
        # By identity: routes are not hashable, and live as long as the app.
        self.deprecations = {id(route): deprecation for route, deprecation in deprecations}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        token = request_id_var.set(request_id)
        identity = (b"x-request-id", request_id.encode("latin-1"))
        security_headers = self.security_headers.for_path(scope["path"])
        deprecations = self.deprecations
        status = 0

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = f"{time.perf_counter() - started:.6f}".encode()
                headers = [
                    *message.get("headers", ()),
                    identity,
                    (b"x-process-time", elapsed),
                    *security_headers,
                    *_decided_headers(scope),
                ]
                if deprecations and (deprecation := deprecations.get(id(scope.get("route")))):
                    headers += deprecation.headers(scope)
                message["headers"] = headers
            await send(message)

        metrics = self.metrics
        if metrics is not None:
            metrics.request_started()
        app = self.api_app if scope["path"].startswith("/api/") else self.app
        if self.guard is not None:
            receive, refusal = self.guard.apply(scope, receive)
            if refusal is not None:
                app = refusal
        try:
            await app(scope, receive, send_observed)
        except Exception:
            if self.guard is None:
                raise
            await answer_unhandled(scope, receive, send_observed, response_started=status != 0)
        finally:
            self._record(scope, request_id, status or 500, time.perf_counter() - started)
            request_id_var.reset(token)

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":  # lifespan
            await self.app(scope, receive, send)
            return
        token = request_id_var.set(request_id_from(scope["headers"]))
        try:
            await self.app(scope, receive, send)
        finally:
            request_id_var.reset(token)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = route_template(scope)
        metrics = self.metrics
        if metrics is not None:
            metrics.request_ended()
            # Unmatched paths share one label, so scanners cannot explode the cardinality.
            handler = route or UNMATCHED_ROUTE
            if handler not in self.unmetered_routes:
                metrics.observe(scope["method"], handler, status, seconds)
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
                "request_id": request_id,
            }
        )
