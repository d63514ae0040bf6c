"""The access log: one line per request, on the hot path of every response.

In JSON mode the line skips structlog's bound logger and processor pipeline, but has the
fields every other line has (request id, level, timestamp, variables bound with
`structlog.contextvars`), and goes to the same batched writer (log_batching.py). Measured
with wrk on one core, the access log cost a bare endpoint about a tenth of its throughput
through structlog and a locked buffer flushed every 0.2 s; this way, about 2.5 %. In
console mode (development) the line goes through structlog like any other.
"""

from collections.abc import Callable
from typing import Any, Protocol

import orjson
import structlog
from structlog.contextvars import _CONTEXT_VARS, STRUCTLOG_KEY_PREFIX

from storefront.core.tracing import trace_ids

ACCESS_LOGGER = "storefront.access"
ACCESS_EVENT = "request"


class LineSink(Protocol):
    def write(self, data: bytes) -> None: ...


AccessWriter = Callable[[dict[str, Any]], None]


def _discard(_: dict[str, Any]) -> None:
    return None


def _through_structlog(fields: dict[str, Any]) -> None:
    structlog.get_logger().info(ACCESS_EVENT, logger=ACCESS_LOGGER, **fields)


def _merge_bound_context(line: dict[str, Any]) -> None:
    """structlog's merge_contextvars, without copying and scanning the whole context:
    only the variables structlog ever created (it keeps them in this registry)."""
    for name, variable in _CONTEXT_VARS.items():
        value = variable.get()
        if value is not Ellipsis:
            line.setdefault(name[len(STRUCTLOG_KEY_PREFIX) :], value)


def json_writer(sink: LineSink, timestamp: Callable[[], str]) -> AccessWriter:
    """`fields` carry the request id; level, event, logger and timestamp are added."""
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE

    def write(fields: dict[str, Any]) -> None:
        line = {"logger": ACCESS_LOGGER, **fields, "event": ACCESS_EVENT, "level": "info"}
        line["timestamp"] = timestamp()
        if _CONTEXT_VARS:
            _merge_bound_context(line)
        sink.write(dumps(line, default=repr, option=option))

    return write


def with_trace_ids(writer: AccessWriter) -> AccessWriter:
    """Adds `trace_id` and `span_id`: those of the request's span, which FastAPI's telemetry
    keeps current around every middleware (OTEL_ENABLED; without it, not even a call)."""

    def write(fields: dict[str, Any]) -> None:
        ids = trace_ids()
        if ids is not None:
            fields["trace_id"], fields["span_id"] = ids
        writer(fields)

    return write


_writer: AccessWriter = _through_structlog


def configure_access_log(
    *, enabled: bool, writer: AccessWriter | None, traced: bool = False
) -> None:
    """Called by `configure_logging`: `writer` None means through structlog; `traced`,
    with the trace ids."""
    global _writer
    chosen = writer or _through_structlog
    _writer = (with_trace_ids(chosen) if traced else chosen) if enabled else _discard


def log_access(fields: dict[str, Any]) -> None:
    _writer(fields)
