"""Request count, latency and in-flight requests, labelled by route template."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.core.metrics import Metrics
from storefront.core.middleware.access_log import route_template

UNMATCHED = "none"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, excluded: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.excluded = excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_flight = self.metrics.in_flight
        in_flight.inc()
        try:
            await self.app(scope, receive, send_observing)
        finally:
            in_flight.dec()
            # Unmatched paths share one label, so scanners cannot explode the cardinality.
            handler = route_template(scope) or UNMATCHED
            if handler not in self.excluded:
                self.metrics.observe(
                    scope["method"], handler, status, time.perf_counter() - started
                )
