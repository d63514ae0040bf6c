"""Prometheus metrics of one app: HTTP requests, in-flight requests, the database pool.

The HTTP metric names and labels are those of prometheus-fastapi-instrumentator
(`http_requests_total`, `http_request_duration_seconds`; handler = route template), so
its dashboards work unchanged.

Each app owns its registry, so several apps can live in one process (the tests). In a
multi-process server `PROMETHEUS_MULTIPROC_DIR` is set before the workers start (see
`storefront serve`) and a scrape sums every live process.
"""

from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, *, multiprocess_dir: str = "") -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self.requests_total = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "handler", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "handler"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
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

        self.jobs = Gauge(
            "storefront_jobs",
            "Durable jobs by state (read from the database at scrape time).",
            ["state"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

    def set_job_counts(self, counts: Mapping[str, int]) -> None:
        for state, count in counts.items():
            self.jobs.labels(state).set(count)

    def observe(self, method: str, handler: str, status: int, seconds: float) -> None:
        key = (method, handler, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests_total.labels(method, handler, str(status)),
                self.request_duration.labels(method, handler),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

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
