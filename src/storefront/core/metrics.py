"""Prometheus metrics: HTTP via prometheus-fastapi-instrumentator, plus pool gauges.

In a multi-process server `PROMETHEUS_MULTIPROC_DIR` is set before the workers start
(see `storefront serve`); the gauges then sum live processes.
"""

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

from storefront.core.config import Settings

DB_POOL_CHECKED_OUT = Gauge(
    "storefront_db_pool_checked_out",
    "Database connections currently checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "storefront_db_pool_size",
    "Configured database pool size (without overflow).",
    multiprocess_mode="livesum",
)
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def track_pool(engine: Engine) -> None:
    size = getattr(engine.pool, "size", None)
    if callable(size):
        DB_POOL_SIZE.set(size())

    def on_checkout(*_: Any) -> None:
        DB_POOL_CHECKED_OUT.inc()

    def on_checkin(*_: Any) -> None:
        DB_POOL_CHECKED_OUT.dec()

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)


def render_latest(settings: Settings) -> bytes:
    if settings.prometheus_multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=settings.prometheus_multiproc_dir
        )
        return generate_latest(registry)
    return generate_latest(REGISTRY)
