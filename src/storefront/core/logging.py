"""Logging: one format for everything.

structlog-native loggers (`structlog.get_logger()`) and the access log (`access_log`)
render straight to the stream; uvicorn, SQLAlchemy, the job worker and every
`logging.getLogger` go through the stdlib root handler, formatted by the same processors
and renderer. All carry the request id of the request being served.
"""

import logging
import logging.config
import sys
import time
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO, cast

import orjson
import structlog
from structlog.types import EventDict, Processor

from storefront.core.access_log import AccessWriter, configure_access_log, json_writer
from storefront.core.config import Settings
from storefront.core.log_batching import BatchingWriter
from storefront.core.log_redaction import redact_url_secrets
from storefront.core.request_id import current_request_id
from storefront.core.tracing import trace_ids


def add_request_id(_: Any, __: str, event_dict: EventDict) -> EventDict:
    request_id = current_request_id()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def add_trace_ids(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The current span's ids (only with OTEL_ENABLED): a job's lines, a request's."""
    ids = trace_ids()
    if ids is not None:
        event_dict.setdefault("trace_id", ids[0])
        event_dict.setdefault("span_id", ids[1])
    return event_dict


class IsoTimestamper:
    """`timestamp` as ISO 8601 UTC with microseconds, formatting the date part once a second
    (structlog's TimeStamper builds a datetime per line: a quarter of the access log's cost)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, _: Any, __: str, event_dict: EventDict) -> EventDict:
        event_dict["timestamp"] = self.now()
        return event_dict

    def now(self) -> str:
        second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC)
            self._second, self._prefix = second, moment.strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{nanoseconds // 1000:06d}Z"


# Tracebacks without the frames' local variables: those hold request headers, tokens,
# passwords and rows (structlog's defaults show them, in JSON and on the console alike).
dict_tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def drop_color_message(_: Any, __: str, event_dict: EventDict) -> EventDict:
    # uvicorn passes an ANSI-coloured copy of each message as an extra.
    event_dict.pop("color_message", None)
    return event_dict


def _json_bytes(event: Any, **_: Any) -> bytes:
    return orjson.dumps(event, default=repr)


def _json_text(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=repr).decode()


_batching: BatchingWriter | None = None


def _batching_writer(binary: BinaryIO) -> BatchingWriter:
    global _batching
    if _batching is not None:
        _batching.close()
    _batching = BatchingWriter(binary)
    return _batching


def flush_logs() -> None:
    if _batching is not None:
        _batching.drain()


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    timestamper = IsoTimestamper()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        timestamper,
    ]
    if settings.otel_enabled:
        shared.insert(2, add_trace_ids)
    if settings.json_logs:
        rendering: list[Processor] = [
            dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=_json_text),
        ]
    else:
        rendering = [
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            )
        ]
    binary = getattr(stream, "buffer", None)
    if settings.json_logs and binary is not None:
        # The hot path: orjson bytes, written to the stream's buffer in batches.
        native_rendering: list[Processor] = [
            dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=_json_bytes),
        ]
        # BytesLogger only calls write() and flush().
        batching = _batching_writer(binary)
        factory: Any = structlog.BytesLoggerFactory(file=cast(BinaryIO, batching))
        access_writer: AccessWriter | None = json_writer(batching, timestamper.now)
    else:
        native_rendering, factory = rendering, structlog.WriteLoggerFactory(file=stream)
        access_writer = None
    configure_access_log(
        enabled=logging.getLevelName(settings.log_level) <= logging.INFO,
        writer=access_writer,
        traced=settings.otel_enabled,
    )
    structlog.configure(
        processors=[*shared, *native_rendering],
        wrapper_class=structlog.make_filtering_bound_logger(settings.log_level),
        logger_factory=factory,
        # Not cached: the configuration (and its stream) can change, as in the tests.
        cache_logger_on_first_use=False,
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "foreign_pre_chain": [
                        *shared,
                        structlog.stdlib.add_logger_name,
                        structlog.stdlib.ExtraAdder(),
                        drop_color_message,
                        redact_url_secrets,
                    ],
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        *rendering,
                    ],
                }
            },
            "handlers": {
                "default": {
                    "class": "logging.StreamHandler",
                    "formatter": "structlog",
                    "stream": stream,
                }
            },
            "root": {"handlers": ["default"], "level": settings.log_level},
            "loggers": {
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
                "sqlalchemy.engine": {"level": "WARNING"},
                # Outbound URLs can carry secrets in their query strings.
                "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"},
                "taskiq": {"level": settings.log_level},
            },
        }
    )
