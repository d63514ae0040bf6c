"""The access log: one line per request, on the hot path of every response.

In JSON mode the line skips structlog's bound-logger machinery (a context copy, a proxy
call, the exception and renderer processors, a file-like logger: measured at twice the
cost of this path) but runs the same field processors (structlog context variables,
request id, level, timestamp), so it has the shape of every other line, and goes to the
same batched writer. In console mode it goes through structlog like any other line.
"""

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson
import structlog
from structlog.types import EventDict, Processor

ACCESS_LOGGER = "storefront.access"
ACCESS_EVENT = "request"


class LineSink(Protocol):
    def write(self, data: bytes) -> None: ...


AccessWriter = Callable[[dict[str, Any]], None]


def _discard(_: dict[str, Any]) -> None:
    return None


def _through_structlog(fields: dict[str, Any]) -> None:
    structlog.get_logger().info(ACCESS_EVENT, logger=ACCESS_LOGGER, **fields)


def json_writer(processors: Sequence[Processor], sink: LineSink) -> AccessWriter:
    chain = tuple(processors)
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE

    def write(fields: dict[str, Any]) -> None:
        line: EventDict = {"logger": ACCESS_LOGGER, **fields, "event": ACCESS_EVENT}
        for processor in chain:
            line = processor(None, "info", line)  # type: ignore[assignment]
        sink.write(dumps(line, default=repr, option=option))

    return write


_writer: AccessWriter = _through_structlog


def configure_access_log(*, enabled: bool, writer: AccessWriter | None) -> None:
    """Called by `configure_logging`: `writer` None means through structlog."""
    global _writer
    _writer = (writer or _through_structlog) if enabled else _discard


def log_access(fields: dict[str, Any]) -> None:
    _writer(fields)
