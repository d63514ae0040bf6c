"""One consumer's bounded mailbox on a channel, and the message it receives."""

import asyncio
import enum
from dataclasses import dataclass
from typing import Self, TypeAlias

JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Message:
    """One published object. Every local consumer shares `data`: treat it as read-only."""

    channel: str
    data: dict[str, JSON]
    # The JSON exactly as published: forward it (to a WebSocket) without encoding it again.
    raw: bytes


class SubscriptionOverflow(Exception):
    """The consumer fell more than its queue size behind and was dropped from the channel."""

    def __init__(self, channel: str) -> None:
        super().__init__(f"the subscriber to {channel!r} fell too far behind and was dropped")
        self.channel = channel


class _End(enum.Enum):
    CLOSED = enum.auto()
    OVERFLOWED = enum.auto()


class Subscription:
    """Iterate to receive the channel's messages in order, each exactly once.

    Iteration stops when the hub closes and raises `SubscriptionOverflow` once the consumer
    has been dropped for falling behind; either way, messages still queued are discarded.
    """

    def __init__(self, channel: str, max_pending: int) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[Message | _End] = asyncio.Queue(max_pending)
        self._end: _End | None = None

    @property
    def overflowed(self) -> bool:
        return self._end is _End.OVERFLOWED

    def offer(self, message: Message) -> bool:
        """Queue `message` without ever waiting; False once this consumer has ended."""
        if self._end is not None:
            return False
        if self._queue.full():
            self._finish(_End.OVERFLOWED)
            return False
        self._queue.put_nowait(message)
        return True

    def close(self) -> None:
        if self._end is None:
            self._finish(_End.CLOSED)

    def _finish(self, end: _End) -> None:
        self._end = end
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(end)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        item = await self._queue.get()
        if isinstance(item, Message):
            return item
        # The end marker stays queued, so every later call ends the same way.
        self._queue.put_nowait(item)
        if item is _End.OVERFLOWED:
            raise SubscriptionOverflow(self.channel)
        raise StopAsyncIteration
