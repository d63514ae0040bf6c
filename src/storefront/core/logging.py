"""Logging: one format for everything.

Our own hot-path loggers (`get_logger`) are structlog-native and render straight to the
stream; uvicorn, SQLAlchemy, the job worker and every `logging.getLogger` go through the
stdlib root handler, formatted by the same processors and renderer. Both carry the
request id of the request being served.
"""

import logging
import logging.config
import sys
from typing import Any, TextIO

import structlog
from asgi_correlation_id import correlation_id
from structlog.types import EventDict, Processor

from storefront.core.config import Settings


def add_request_id(_: Any, __: str, event_dict: EventDict) -> EventDict:
    request_id = correlation_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering: list[Processor] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if settings.json_logs
        else [structlog.dev.ConsoleRenderer(colors=False)]
    )
    structlog.configure(
        processors=[*shared, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(settings.log_level),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
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
                # A client sending a malformed X-Request-ID must not be able to flood the log.
                "asgi_correlation_id": {"level": "ERROR"},
                # Outbound URLs can carry secrets in their query strings.
                "httpx": {"level": "WARNING"},
                "httpcore": {"level": "WARNING"},
                "taskiq": {"level": settings.log_level},
            },
        }
    )
