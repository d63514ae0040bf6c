"""A process's tracing when OTEL_ENABLED is on: what is traced, and how it gets out.

Spans go from a batch processor to an OTLP exporter (HTTP/protobuf or gRPC) in a thread of
their own, so a slow or absent collector costs a request nothing: the queue is bounded
(spans past it are dropped and counted in a warning), each export has the exporter's
timeout, and stopping waits for the last export `SHUTDOWN_SECONDS` at most.

What makes spans:
- each request: FastAPI's own telemetry (`fastapi_telemetry`), outside every middleware, so
  the access-log line written inside it carries its trace and span ids. Without FastAPI's
  operation spans (dependencies, endpoint, serialization): a span costs the SDK tens of µs,
  and these three would have quadrupled what tracing costs a request;
- each SQL statement: on asyncpg, the driver's instrumentation, which sees the ORM's
  statements too (SQLAlchemy's asyncpg adapter runs them as asyncpg prepared statements),
  those core/statements.py runs on the driver, and the read pool's; on another driver,
  SQLAlchemy's instrumentation of the engine. Both at once would give the ORM's statements
  two spans each;
- each Redis command (redis-py's instrumentation); each job run and SMTP delivery
  (the helpers of `storefront.core.tracing`).

Client spans without a parent (the job stream's polling, lease heartbeats, the sweep, the
hub's pings) are not exported: a trace every few seconds per process, explaining nothing.

The SDK reads its own standard variables from the environment (OTEL_EXPORTER_OTLP_ENDPOINT,
…_HEADERS, …_TIMEOUT, …_COMPRESSION, …_CERTIFICATE, OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_PROPAGATORS): the one
exception to "only Settings reads the environment", the one SPEC §2 asks for. The protocol,
which chooses the exporter class, is a setting (`Settings.otel_traces_protocol`).
"""

import asyncio
import logging
import threading
from typing import Any, Protocol

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

import storefront.core.tracing as tracing
from storefront import __version__
from storefront.core.config import Settings

TRACER_NAME = "storefront"
SHUTDOWN_SECONDS = 3.0

logger = logging.getLogger("storefront.tracing")


class Instrumentor(Protocol):
    """What the instrumentations share (their base class is untyped)."""

    def uninstrument(self, **kwargs: Any) -> Any: ...


class ParentedClientSpans(SpanProcessor):
    """Hands spans on to `inner`, except client spans that have no parent."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if span.parent is None and span.kind is trace.SpanKind.CLIENT:
            return
        self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Tracing:
    """The tracer provider of one process, its exporter and its instrumentations.

    Built with the app (no thread yet), started and closed by its lifespan or by
    `storefront worker`."""

    def __init__(self, settings: Settings, *, service_name: str) -> None:
        self.settings = settings
        # Shut down by `aclose`, bounded; not by the SDK's exit hook, which is not.
        self.provider = TracerProvider(
            resource=service_resource(settings, service_name), shutdown_on_exit=False
        )
        self.tracer = self.provider.get_tracer(TRACER_NAME, __version__)
        self._exporter: SpanExporter | None = None
        self._instrumentors: list[Instrumentor] = []

    @property
    def fastapi_telemetry(self) -> TelemetryConfig:
        """`FastAPI(telemetry=…)`: request spans on this provider; no OpenTelemetry
        metrics or logs (Prometheus and the JSON log have those), no export of FastAPI's."""
        return {
            "tracer_provider": self.provider,
            "tracing": True,
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "auto_configure": False,
        }

    def start(self, engine: AsyncEngine) -> None:
        """Begin exporting; instrument the database driver and Redis."""
        self._exporter = create_exporter(self.settings)
        self.provider.add_span_processor(ParentedClientSpans(BatchSpanProcessor(self._exporter)))
        if tracing._tracer is not None:
            # Instrumentations patch classes, once per process: they stay with the first.
            logger.warning("tracing was started already in this process")
            return
        tracing._tracer = self.tracer
        self._instrument(engine)
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            # For code that asks the API for its tracer (`trace.get_tracer(__name__)`).
            trace.set_tracer_provider(self.provider)
        logger.info("tracing started", extra={"protocol": self.settings.otel_traces_protocol})

    def _instrument(self, engine: AsyncEngine) -> None:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        redis = RedisInstrumentor()
        redis.instrument(tracer_provider=self.provider)
        self._instrumentors.append(redis)
        if engine.dialect.driver == "asyncpg":
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

            asyncpg = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
            asyncpg.instrument(tracer_provider=self.provider)
            self._instrumentors.append(asyncpg)
            return
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        sqlalchemy = SQLAlchemyInstrumentor()
        # It declares SQLAlchemy < 2.1 and works with 2.1, whose engine events it listens
        # to are unchanged (tests/core/test_tracing.py checks its spans).
        sqlalchemy.instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        self._instrumentors.append(sqlalchemy)

    async def aclose(self) -> None:
        """Unwrap the libraries, export what is left (bounded) and stop the exporter."""
        if tracing._tracer is self.tracer:
            tracing._tracer = None
        for instrumentor in reversed(self._instrumentors):
            instrumentor.uninstrument()
        self._instrumentors.clear()
        await asyncio.get_running_loop().run_in_executor(None, self._shut_down)

    def _shut_down(self) -> None:
        # In a daemon thread: a collector that never answers must not hold the exit.
        done = threading.Event()

        def shut_down() -> None:
            self.provider.shutdown()
            done.set()

        threading.Thread(target=shut_down, name="otel-shutdown", daemon=True).start()
        if not done.wait(SHUTDOWN_SECONDS) and self._exporter is not None:
            logger.warning(
                "trace export unfinished after %.0f s: the spans left are dropped",
                SHUTDOWN_SECONDS,
            )
            # Ends the exporter's retries, so that its thread stops.
            self._exporter.shutdown()


def service_resource(settings: Settings, service_name: str) -> Resource:
    """Who the spans come from; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win."""
    detected = Resource.create()
    ours = Resource(
        {
            SERVICE_NAME: service_name,
            SERVICE_VERSION: __version__,
            "deployment.environment.name": settings.environment,
        }
    )
    resource = ours.merge(detected)
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        # The SDK's placeholder: nobody named the service.
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    return resource


def create_exporter(settings: Settings) -> SpanExporter:
    """Either reads its endpoint, headers, timeout, compression and TLS files itself."""
    if settings.otel_traces_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    return HttpSpanExporter()
