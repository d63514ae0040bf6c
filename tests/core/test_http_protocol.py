"""What BoundedHttpProtocol relies on that a live server cannot show (tests/test_server_limits.py
shows the rest)."""

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from storefront.core.http_protocol import BoundedHttpProtocol
from storefront.core.http_refusals import RefusalLog

pytestmark = pytest.mark.anyio

REQUEST = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"


class FakeTransport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name)

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def served_protocol(cls: type[HttpToolsProtocol]) -> HttpToolsProtocol:
    config = Config(app=ok, lifespan="off", log_level="warning")
    config.load()
    protocol = cls(config, ServerState(), {}, asyncio.get_running_loop())
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    for _ in range(2):
        protocol.data_received(REQUEST)
        await asyncio.sleep(0.01)
    assert transport.written.count(b"HTTP/1.1 200 OK") == 2
    protocol.connection_lost(None)
    return protocol


async def test_the_protocol_adds_one_attribute_to_uvicorns() -> None:
    """From 30 instance attributes on, CPython 3.11 stops sharing the instances' keys and
    every attribute read on uvicorn's per-request path slows down (3 % of /health/live).
    If uvicorn grows attributes, our state must shrink, not this bound grow."""
    theirs = vars(await served_protocol(HttpToolsProtocol))
    ours = vars(await served_protocol(BoundedHttpProtocol))

    assert set(ours) - set(theirs) == {"_head_left"}
    assert len(ours) <= 29


class FakeLoop:
    def __init__(self) -> None:
        self.later: list[tuple[float, Any, tuple[Any, ...]]] = []

    def call_later(self, delay: float, callback: Any, *args: Any) -> None:
        self.later.append((delay, callback, args))

    def run_later(self) -> None:
        pending, self.later = self.later, []
        for _, callback, args in pending:
            callback(*args)


def test_refusals_are_logged_once_then_counted(caplog: pytest.LogCaptureFixture) -> None:
    log, loop = RefusalLog(interval=10), FakeLoop()
    caplog.set_level(logging.WARNING, logger="storefront.server")

    for _ in range(500):
        log.note(loop, "connection refused")  # type: ignore[arg-type]
    log.note(loop, "head too large")  # type: ignore[arg-type]
    first = [(record.getMessage(), record.refused) for record in caplog.records]  # type: ignore[attr-defined]
    loop.run_later()
    counted = [(record.getMessage(), record.refused) for record in caplog.records]  # type: ignore[attr-defined]
    loop.run_later()  # a quiet interval: nothing to say, and the next refusal is news again
    log.note(loop, "connection refused")  # type: ignore[arg-type]

    assert first == [("connection refused", 1), ("head too large", 1)]
    assert counted[2:] == [("connection refused", 499)]
    assert len(caplog.records) == 4
