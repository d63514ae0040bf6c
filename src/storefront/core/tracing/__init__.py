"""OpenTelemetry traces, exported over OTLP when `OTEL_ENABLED=true`.

Off (the default), nothing of the tracing SDK, the exporters or the instrumentations is
imported and nothing is wrapped: the request path is what it is without tracing (FastAPI
imports the OpenTelemetry API itself; its telemetry is switched off), and the helpers below
return at once. On, `create_tracing` gives the process its `Tracing` (provider.py), which says what
is traced and how it is exported.

The helpers are for code no instrumentation covers: a job's run (`job_span`), a child of
the span that enqueued it (`current_carrier`, kept on the job row so that retries, sweeps
and other processes see it), and calls to other services such as SMTP (`client_span`).
"""

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from storefront.core.config import Settings

if TYPE_CHECKING:
    from storefront.core.tracing.provider import Tracing

__all__ = [
    "API_SERVICE",
    "WORKER_SERVICE",
    "Carrier",
    "client_span",
    "create_tracing",
    "current_carrier",
    "job_span",
    "record_failure",
    "trace_ids",
]

API_SERVICE = "storefront"
WORKER_SERVICE = "storefront-worker"

Carrier = dict[str, str]

# The tracer of the process's started Tracing (provider.py sets it), if any.
_tracer: trace.Tracer | None = None


def create_tracing(settings: Settings, *, service_name: str) -> "Tracing | None":
    """This process's tracing, or None when OTEL_ENABLED is off (nothing is imported)."""
    if not settings.otel_enabled:
        return None
    from storefront.core.tracing.provider import Tracing

    return Tracing(settings, service_name=service_name)


def current_carrier() -> Carrier | None:
    """The current span's context as W3C headers (`traceparent`, `tracestate`), to be
    stored with work done later; None when tracing is off or no span is current."""
    if _tracer is None:
        return None
    carrier: Carrier = {}
    propagate.inject(carrier)
    return carrier or None


def job_span(
    name: str, *, job_id: str, attempt: int, carrier: Mapping[str, str] | None
) -> AbstractContextManager[object]:
    """The span of one run of a job: a child of the span that enqueued it (`carrier`), a
    trace of its own without one (a periodic job)."""
    if _tracer is None:
        return nullcontext()
    parent = propagate.extract(carrier) if carrier else otel_context.Context()
    return _tracer.start_as_current_span(
        name,
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "storefront.jobs",
            "messaging.operation.type": "process",
            "messaging.destination.name": name,
            "messaging.message.id": job_id,
            "storefront.job.attempt": attempt,
        },
    )


def client_span(
    name: str, *, protocol: str, host: str, port: int
) -> AbstractContextManager[object]:
    """A span around a call to another service (it records the exception that ends it)."""
    if _tracer is None:
        return nullcontext()
    return _tracer.start_as_current_span(
        name,
        kind=trace.SpanKind.CLIENT,
        attributes={"network.protocol.name": protocol, "server.address": host, "server.port": port},
    )


def record_failure(error: BaseException) -> None:
    """Mark the current span failed, for code that handles `error` itself."""
    if _tracer is None:
        return
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(error)
        span.set_status(trace.StatusCode.ERROR, type(error).__name__)


def trace_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids, as hex (for log lines), if any."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
