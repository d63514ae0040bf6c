"""What the HTTP protocol answers in the app's stead: RFC 9457 problems for requests the
app never sees (see http_protocol.py), and a log of them that a flood cannot flood."""

import asyncio
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope

from storefront.core.middleware.security_headers import SecurityHeaders
from storefront.core.problems import PROBLEM_MEDIA_TYPE
from storefront.core.request_id import new_request_id

RawHeaders = list[tuple[bytes, bytes]]

# Long enough to say where, short enough that a refused 64 KiB target is not echoed back.
MAX_INSTANCE_CHARS = 256
REPORT_INTERVAL_SECONDS = 10.0
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 1_048_576

SECURITY_HEADERS = SecurityHeaders().for_path("/")
logger = logging.getLogger("storefront.server")


def instance_of(target: bytes) -> str:
    """The path of a request target, as far as it was read."""
    return target.split(b"?", 1)[0][:MAX_INSTANCE_CHARS].decode("latin-1")


@dataclass(frozen=True)
class Refusal:
    """A problem answered without the app; the connection is closed after it."""

    status: int
    code: str
    detail: str
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def render(self, instance: str) -> tuple[RawHeaders, bytes]:
        request_id = new_request_id()
        problem = {
            "type": "/problems/" + self.code.lower().replace("_", "-"),
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "code": self.code,
            "request_id": request_id,
        }
        body = json.dumps(problem).encode()
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            # The app never ran: no time was spent on the request.
            (b"x-process-time", b"0.000000"),
            *SECURITY_HEADERS,
            *self.headers,
            (b"connection", b"close"),
        ]
        return headers, body

    def raw(self, instance: str, default_headers: RawHeaders) -> bytes:
        """The whole response, for a connection whose request could not be parsed."""
        headers, body = self.render(instance)
        status = f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\n".encode()
        lines = [name + b": " + value + b"\r\n" for name, value in [*default_headers, *headers]]
        return b"".join([status, *lines, b"\r\n", body])

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """As an ASGI app, for a request read whole and refused all the same."""
        path = scope["path"] if scope["type"] == "http" else ""
        headers, body = self.render(path[:MAX_INSTANCE_CHARS])
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


class Refused(asyncio.Protocol):
    """A connection refused, taken over from the HTTP protocol: its answer, then end of
    stream, then what the client still sends is read and dropped (for LINGER_SECONDS and
    LINGER_MAX_BYTES at most) so that it reads the answer rather than a reset."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._dropped = 0
        # Answered when the request's first bytes come, if not yet answered.
        self._pending: tuple[Refusal, RawHeaders] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._transport = transport
        self._close_in(self._timeout)

    def answer_first_request(self, refusal: Refusal, default_headers: RawHeaders) -> None:
        self._pending = (refusal, default_headers)

    def answer(self, response: bytes) -> None:
        assert self._transport is not None
        self._transport.write(response)
        if self._transport.can_write_eof():
            self._transport.write_eof()
        self._close_in(LINGER_SECONDS)

    def data_received(self, data: bytes) -> None:
        if self._pending is not None:
            refusal, default_headers = self._pending
            self._pending = None
            request_line = data[:4096].split(b" ", 2)
            target = request_line[1] if len(request_line) > 1 else b""
            self.answer(refusal.raw(instance_of(target), default_headers))
            return
        self._dropped += len(data)
        if self._dropped > LINGER_MAX_BYTES and self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _close_in(self, seconds: float) -> None:
        assert self._transport is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(seconds, self._transport.close)


class RefusalLog:
    """A warning at the first refusal of a kind, then at most one an interval with the
    count since: a flood of refused clients costs a few lines, not one per client."""

    def __init__(self, interval: float = REPORT_INTERVAL_SECONDS) -> None:
        self._interval = interval
        # The kinds reported in the current interval, and how many came since.
        self._since_reported: dict[str, int] = {}

    def note(self, loop: asyncio.AbstractEventLoop, reason: str) -> None:
        if reason in self._since_reported:
            self._since_reported[reason] += 1
            return
        logger.warning(reason, extra={"refused": 1})
        self._since_reported[reason] = 0
        loop.call_later(self._interval, self._report, loop, reason)

    def _report(self, loop: asyncio.AbstractEventLoop, reason: str) -> None:
        count = self._since_reported.pop(reason)
        if count:
            logger.warning(reason, extra={"refused": count, "seconds": self._interval})
            self._since_reported[reason] = 0
            loop.call_later(self._interval, self._report, loop, reason)
