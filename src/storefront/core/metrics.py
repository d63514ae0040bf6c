"""Prometheus metrics of one app: HTTP metrics come from prometheus-fastapi-instrumentator
(given this registry), the in-flight and pool gauges from here.

Each app owns its registry, so several apps can live in one process (the tests). In a
multi-process server `PROMETHEUS_MULTIPROC_DIR` is set before the workers start (see
`storefront serve`) and a scrape sums every live process.
"""

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, *, multiprocess_dir: str = "") -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self.in_flight = Gauge(
            "http_requests_inprogress",
            "HTTP requests being served.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.db_pool_checked_out = Gauge(
            "storefront_db_pool_checked_out",
            "Database connections currently checked out of the pool.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.db_pool_size = Gauge(
            "storefront_db_pool_size",
            "Configured database pool size (without overflow).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def track_pool(self, engine: Engine) -> None:
        size = getattr(engine.pool, "size", None)
        if callable(size):
            self.db_pool_size.set(size())

        def on_checkout(*_: Any) -> None:
            self.db_pool_checked_out.inc()

        def on_checkin(*_: Any) -> None:
            self.db_pool_checked_out.dec()

        event.listen(engine, "checkout", on_checkout)
        event.listen(engine, "checkin", on_checkin)

    def render(self) -> bytes:
        if not self.multiprocess_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=self.multiprocess_dir
        )
        return generate_latest(registry)
