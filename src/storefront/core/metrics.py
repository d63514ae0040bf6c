"""Prometheus metrics of one app: HTTP requests, in-flight requests, the database pool.

The HTTP metric names and labels are those of prometheus-fastapi-instrumentator
(`http_requests_total`, `http_request_duration_seconds`; handler = route template), so
its dashboards work unchanged.

Each app owns its registry, so several apps can live in one process (the tests). In a
multi-process server `PROMETHEUS_MULTIPROC_DIR` is set before the workers start (see
`storefront serve`) and a scrape sums every live process: each request is written to the
shared files as it ends.

In a single process, requests are tallied in plain counters on the event loop and added
to the registry when it is rendered: prometheus_client takes a lock for every value it
touches (five per request), which cost a bare endpoint several percent of its throughput.
"""

from bisect import bisect_left
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
# A request falls in the first bucket whose bound is >= its duration (+Inf last).
LATENCY_BOUNDS = (*LATENCY_BUCKETS, float("inf"))


class _Tally:
    """Requests of one label set since the last render."""

    __slots__ = ("buckets", "count", "counter", "histogram", "seconds")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self.counter, self.histogram = counter, histogram
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * len(LATENCY_BOUNDS)

    def add_to_registry(self) -> None:
        self.counter.inc(self.count)
        # prometheus_client has no public call to add many observations at once: its
        # histogram keeps a sum and one value per bucket, not cumulative (tested against
        # observe() in tests/health/test_metrics.py, so an upgrade that changes it fails).
        self.histogram._sum.inc(self.seconds)
        for index, count in enumerate(self.buckets):
            if count:
                self.histogram._buckets[index].inc(count)
        self.count, self.seconds = 0, 0.0
        self.buckets = [0] * len(LATENCY_BOUNDS)


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
        self._tallies: dict[tuple[str, str, int], _Tally] = {}
        self._in_flight = 0
        self.in_flight = Gauge(
            "http_requests_inprogress",
            "HTTP requests being served.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        if not multiprocess_dir:
            self.in_flight.set_function(lambda: self._in_flight)
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

    # Called on the event loop thread, as is `render` (the tallies have no lock).

    def request_started(self) -> None:
        if self.multiprocess_dir:
            self.in_flight.inc()
        else:
            self._in_flight += 1

    def request_ended(self) -> None:
        if self.multiprocess_dir:
            self.in_flight.dec()
        else:
            self._in_flight -= 1

    def observe(self, method: str, handler: str, status: int, seconds: float) -> None:
        key = (method, handler, status)
        if self.multiprocess_dir:
            counter, histogram = self._children_of(key)
            counter.inc()
            histogram.observe(seconds)
            return
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally(*self._children_of(key))
        tally.count += 1
        tally.seconds += seconds
        tally.buckets[bisect_left(LATENCY_BOUNDS, seconds)] += 1

    def _children_of(self, key: tuple[str, str, int]) -> tuple[Any, Any]:
        children = self._children.get(key)
        if children is None:
            method, handler, status = key
            children = (
                self.requests_total.labels(method, handler, str(status)),
                self.request_duration.labels(method, handler),
            )
            self._children[key] = children
        return children

    def _add_tallies(self) -> None:
        for tally in self._tallies.values():
            if tally.count:
                tally.add_to_registry()

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
            self._add_tallies()
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=self.multiprocess_dir
        )
        return generate_latest(registry)
