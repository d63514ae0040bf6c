"""One member's WebSocket in one room: what it reads goes to the hub, what the room says
comes back through a bounded queue.

Four tasks per connection: the reader (validates, rate limits and publishes the member's
messages), the forwarder (moves the room's messages from the hub into the outbound
queue), the writer (sends the queue to the socket, each send under a deadline) and the
credential watch (credentials.py). The hub never waits on any of them, and when this
member cannot keep up — its outbound queue or its hub subscription overflows, or one
send takes too long — it is disconnected rather than slowing the room. Whichever task
ends the connection, the close frame is sent once the others have stopped, so that no
two tasks ever send at once.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from storefront.core.config import Settings
from storefront.core.pubsub import JSON, Hub, HubUnavailable, Subscription, SubscriptionOverflow
from storefront.realtime.credentials import CredentialWatch, Ending
from storefront.realtime.service import CLOSE_TRY_AGAIN_LATER, publish, room_channel

logger = logging.getLogger("storefront.realtime")

Step = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int
    outbound_queue: int
    send_timeout_seconds: float
    messages_per_second: float
    burst: int

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            max_message_bytes=settings.ws_max_message_bytes,
            outbound_queue=settings.ws_outbound_queue,
            send_timeout_seconds=settings.ws_send_timeout_seconds,
            messages_per_second=settings.ws_messages_per_second,
            burst=settings.ws_message_burst,
        )


class TooSlow(Exception):
    pass


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def parse_message(raw: str | None, limits: Limits) -> dict[str, JSON]:
    """The member's message (a text frame) as a JSON object, or ValueError saying what is
    wrong."""
    if raw is None:
        raise ValueError("a message must be a text frame holding a JSON object")
    if len(raw.encode()) > limits.max_message_bytes:
        raise ValueError(f"a message is at most {limits.max_message_bytes} bytes")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValueError("a message must be JSON") from None
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message


class RoomConnection:
    def __init__(
        self,
        websocket: WebSocket,
        *,
        hub: Hub,
        room: str,
        user_id: int,
        limits: Limits,
        credentials: CredentialWatch,
    ) -> None:
        self.websocket = websocket
        self.hub = hub
        self.room = room
        self.user_id = user_id
        self.limits = limits
        self.credentials = credentials
        self.outbound: asyncio.Queue[str | bytes] = asyncio.Queue(limits.outbound_queue)
        self.bucket = TokenBucket(limits.messages_per_second, limits.burst)
        self._ending: Ending | None = None

    async def serve(self) -> None:
        try:
            async with self.hub.subscribe(room_channel(self.room)) as subscription:
                await self._serve(subscription)
        except HubUnavailable:
            logger.warning("live updates unavailable: Redis unreachable")
            await self._close(CLOSE_TRY_AGAIN_LATER, "live updates are unavailable; try again")

    async def _serve(self, subscription: Subscription) -> None:
        await publish(self.hub, self.room, self._event("user_joined"))
        try:
            async with anyio.create_task_group() as tasks:
                scope = tasks.cancel_scope
                tasks.start_soon(self._guard, self._read, scope)
                tasks.start_soon(self._guard, self._write, scope)
                tasks.start_soon(self._forward, subscription, scope)
                tasks.start_soon(self._watch, scope)
        finally:
            with anyio.CancelScope(shield=True):
                if self._ending is not None:
                    await self._close(*self._ending)
                await publish(self.hub, self.room, self._event("user_left"))

    def _event(self, name: str) -> dict[str, JSON]:
        return {"event": name, "user_id": self.user_id, "room": self.room}

    def _end(self, ending: Ending, scope: anyio.CancelScope) -> None:
        if self._ending is None:
            self._ending = ending
        scope.cancel()

    async def _guard(self, step: Step, scope: anyio.CancelScope) -> None:
        """Any end of the reader or the writer ends the connection."""
        try:
            await step()
        except WebSocketDisconnect:
            pass
        except TooSlow:
            logger.info("live client too slow: disconnected", extra={"room": self.room})
            self._end((CLOSE_TRY_AGAIN_LATER, "too slow"), scope)
        finally:
            scope.cancel()

    async def _watch(self, scope: anyio.CancelScope) -> None:
        ending = await self.credentials.ended()
        logger.info(
            "live socket closed: %s", ending[1], extra={"room": self.room, "user_id": self.user_id}
        )
        self._end(ending, scope)

    async def _read(self) -> None:
        while True:
            frame = await self.websocket.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000), frame.get("reason"))
            try:
                message = parse_message(frame.get("text"), self.limits)
            except ValueError as error:
                self._queue(self._error(str(error)))
                continue
            if not self.bucket.take():
                self._queue(self._error("too many messages; slow down"))
                continue
            # Set by the server, whatever the member sent under these names.
            message.update(
                room=self.room, user_id=self.user_id, sent_at=datetime.now(UTC).isoformat()
            )
            await publish(self.hub, self.room, message)

    async def _forward(self, subscription: Subscription, scope: anyio.CancelScope) -> None:
        try:
            async for message in subscription:
                self._queue(message.raw)
        except (SubscriptionOverflow, TooSlow):
            logger.info("live client too slow: disconnected", extra={"room": self.room})
            self._end((CLOSE_TRY_AGAIN_LATER, "too slow"), scope)
        finally:
            scope.cancel()

    def _queue(self, frame: str | bytes) -> None:
        try:
            self.outbound.put_nowait(frame)
        except asyncio.QueueFull:
            raise TooSlow() from None

    async def _write(self) -> None:
        while True:
            frame = await self.outbound.get()
            text = frame.decode() if isinstance(frame, bytes) else frame
            try:
                with anyio.fail_after(self.limits.send_timeout_seconds):
                    await self.websocket.send_text(text)
            except TimeoutError:
                raise TooSlow() from None

    def _error(self, detail: str) -> str:
        return orjson.dumps({"event": "error", "detail": detail}).decode()

    async def _close(self, code: int, reason: str) -> None:
        # Already closed by the other side is fine too.
        with (
            anyio.move_on_after(1, shield=True),
            contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError),
        ):
            await self.websocket.close(code=code, reason=reason)
