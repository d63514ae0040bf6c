"""The HTTP/1.1 protocol of `storefront serve`: uvicorn's httptools protocol, bounded.

uvicorn's HttpToolsProtocol reads a request line and headers of any size (httptools
buffers an unfinished header whole), for as long as the client takes, on any number of
connections. This subclass, for every connection of the process:

- refuses a request head (request line and headers) over MAX_HEAD_BYTES with a 431
  problem, before the parser has been fed more than that, and more than
  MAX_HEADER_FIELDS header fields with a 431 too;
- closes a connection whose request head is still incomplete HEAD_TIMEOUT_SECONDS (to
  within a second) after the connection opened or after the request's first byte,
  however slowly bytes keep arriving; uvicorn's `timeout_keep_alive` still closes
  connections idle between requests;
- admits at most `limit_concurrency` connections (uvicorn's setting, DEFAULT_MAX_CONNECTIONS
  when unset; WebSocket connections and requests still running for a client that left
  count too): one beyond is answered a 503 problem with Retry-After, unparsed, and closed;
- answers what httptools cannot parse with a 400 problem instead of uvicorn's plain text.

Every request of every endpoint goes through here, so the normal path adds one
subtraction and one attribute, and no timer: one sweep a second finds the late heads
(one timer per request cost 2 µs), and refused connections are handed to a protocol of
their own (http_refusals.Refused). One attribute, because uvicorn's protocol already has
28: from 30 on, CPython 3.11 gives the instances a plain dict and every attribute of
uvicorn's hot path gets slower (it cost /health/live 3 % of its throughput).

Select it with `uvicorn --http storefront.core.http_protocol:BoundedHttpProtocol`.
"""

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from storefront.core.http_refusals import Refusal, RefusalLog, Refused, instance_of

MAX_HEAD_BYTES = 65_536
MAX_HEADER_FIELDS = 100
HEAD_TIMEOUT_SECONDS = 10
DEFAULT_MAX_CONNECTIONS = 256
SWEEP_SECONDS = 1
RETRY_AFTER_SECONDS = 1

HEAD_TOO_LARGE = Refusal(
    431,
    "REQUEST_HEADERS_TOO_LARGE",
    f"The request line and headers exceed {MAX_HEAD_BYTES} bytes.",
)
TOO_MANY_FIELDS = Refusal(
    431,
    "REQUEST_HEADERS_TOO_LARGE",
    f"The request has more than {MAX_HEADER_FIELDS} header fields.",
)
MALFORMED = Refusal(400, "BAD_REQUEST", "The request is not valid HTTP/1.1.")
OVER_CAPACITY = Refusal(
    503,
    "SERVICE_UNAVAILABLE",
    "The server is at its connection limit; retry shortly.",
    headers=((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),),
)

refusals = RefusalLog()


class BoundedHttpProtocol(HttpToolsProtocol):
    # Bytes the request head may still take; None while no head is read (a body is).
    _head_left: int | None = MAX_HEAD_BYTES

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        limit = self.config.limit_concurrency or DEFAULT_MAX_CONNECTIONS
        if len(self.connections) < limit and len(self.tasks) < limit:
            # uvicorn's own check would answer the last admitted connection a text/plain 503.
            self.limit_concurrency = None
            super().connection_made(transport)
            _sweep_for(self.server_state, self.loop)
            return
        # Refused unparsed and uncounted: clients retrying must not keep others out.
        refusals.note(self.loop, "connection refused: over the connection limit")
        refused = Refused(self.loop, HEAD_TIMEOUT_SECONDS)
        transport.set_protocol(refused)
        refused.connection_made(transport)
        refused.answer_first_request(OVER_CAPACITY, self.server_state.default_headers)

    def data_received(self, data: bytes) -> None:
        left = self._head_left
        if left is not None:
            self._head_left = left - len(data)
            if len(data) > left:
                self._receive_past_limit(data, within=left)
                return
        # Not super(): in Python 3.11 it costs the normal path an object per call.
        HttpToolsProtocol.data_received(self, data)

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's, with a bound: beyond it, further fields are dropped, then refused.
        headers = self.headers
        if len(headers) == MAX_HEADER_FIELDS:
            if self.app is not TOO_MANY_FIELDS:
                refusals.note(self.loop, "request refused: too many header fields")
                self.app = TOO_MANY_FIELDS  # the connection closes after its answer
            return
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_left = None
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        self._head_left = MAX_HEAD_BYTES

    def _should_upgrade(self) -> bool:
        # An upgrade refused for its header fields is answered as a plain request.
        return self.app is not TOO_MANY_FIELDS and HttpToolsProtocol._should_upgrade(self)

    def _unsupported_upgrade_warning(self) -> None:
        if self.app is not TOO_MANY_FIELDS:
            HttpToolsProtocol._unsupported_upgrade_warning(self)

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to what httptools cannot parse, as a problem like any other.
        self._refuse_request(MALFORMED)

    def awaits_head(self) -> bool:
        """Whether a request head is being read: not while a body is, nor while the
        connection is idle between requests (the first head counts from the start)."""
        left = self._head_left
        return left is not None and (left < MAX_HEAD_BYTES or self.cycle is None)

    def close_late_head(self) -> None:
        if self._head_left != MAX_HEAD_BYTES:  # silent ones are just idle
            refusals.note(self.loop, "connection closed: request head not complete in time")
        self.transport.close()

    def _receive_past_limit(self, data: bytes, *, within: int) -> None:
        """`within`: how many bytes of `data` the head was still allowed."""
        HttpToolsProtocol.data_received(self, data[:within])
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # refused as malformed, or upgraded
        if self._head_left is None or self._head_left >= 0:
            self.data_received(data[within:])  # the head ended in time: the rest is counted anew
            return
        refusals.note(self.loop, "request refused: request head over the size limit")
        self._refuse_request(HEAD_TOO_LARGE)

    def _refuse_request(self, refusal: Refusal) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a response is being written: no room for another
            return
        response = refusal.raw(
            instance_of(getattr(self, "url", b"")), self.server_state.default_headers
        )
        self.connections.discard(self)
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        refused = Refused(self.loop, HEAD_TIMEOUT_SECONDS)
        self.transport.set_protocol(refused)
        refused.connection_made(self.transport)
        refused.answer(response)


class HeadSweep:
    """Once a second, closes the connections of a server whose request head has been
    pending for HEAD_TIMEOUT_SECONDS: one timer per process instead of one per request."""

    def __init__(self, connections: set[Any], loop: asyncio.AbstractEventLoop) -> None:
        self._connections = connections
        self._loop = loop
        self._count = 0
        # Connection → the sweep that first saw its pending head, and that head's cycle
        # (the one before it: every head that completes makes a new one).
        self._seen: dict[BoundedHttpProtocol, tuple[int, object]] = {}
        loop.call_later(SWEEP_SECONDS, self._sweep)

    def _sweep(self) -> None:
        self._count += 1
        seen: dict[BoundedHttpProtocol, tuple[int, object]] = {}
        for connection in self._connections:
            if not isinstance(connection, BoundedHttpProtocol) or not connection.awaits_head():
                continue  # a WebSocket, or no head pending
            first_seen, head = self._seen.get(connection, (self._count, connection.cycle))
            if head is not connection.cycle:
                first_seen, head = self._count, connection.cycle
            if self._count - first_seen < HEAD_TIMEOUT_SECONDS // SWEEP_SECONDS:
                seen[connection] = (first_seen, head)
            elif not connection.transport.is_closing():
                connection.close_late_head()
        self._seen = seen
        self._loop.call_later(SWEEP_SECONDS, self._sweep)


_sweeps: "WeakKeyDictionary[ServerState, HeadSweep]" = WeakKeyDictionary()


def _sweep_for(server_state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
    if server_state not in _sweeps:
        _sweeps[server_state] = HeadSweep(server_state.connections, loop)
