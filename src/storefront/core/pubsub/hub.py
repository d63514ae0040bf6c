"""The hub interface and the local fan-out that every implementation shares."""

import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Protocol

import orjson

from storefront.core.pubsub.subscription import JSON, Message, Subscription

logger = logging.getLogger("storefront.pubsub")


class HubUnavailable(ConnectionError):
    """The hub cannot reach its broker (or is closed); the API renders it as a 503."""


def encode(message: Mapping[str, JSON]) -> bytes:
    return orjson.dumps(message)


def decode(raw: bytes) -> dict[str, JSON] | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


class Consumer(Protocol):
    channel: str

    def offer(self, message: Message) -> bool:
        """Take `message` without waiting; False when this consumer is gone."""
        ...

    def close(self) -> None: ...


class Listener:
    """A consumer that handles each message at once, in the hub's reader: for quick,
    synchronous work (forgetting cache entries), never for I/O."""

    def __init__(self, channel: str, handle: Callable[[Message], None]) -> None:
        self.channel = channel
        self._handle = handle

    def offer(self, message: Message) -> bool:
        try:
            self._handle(message)
        except Exception:
            logger.exception("a pub/sub listener failed", extra={"channel": self.channel})
        return True

    def close(self) -> None:
        pass


class Hub(ABC):
    """Channels of JSON objects: each subscriber gets every message published after it
    subscribed, in order, exactly once; a subscriber that falls behind is dropped, never
    waited for.
    """

    def __init__(self, *, queue_size: int) -> None:
        self._queue_size = queue_size
        # A channel stays listed from its first subscriber's arrival until the last one
        # leaves: a consumer dropped for overflowing no longer receives, but still holds it.
        self._consumers: dict[str, set[Consumer]] = {}
        self._closed = False

    @abstractmethod
    async def publish(self, channel: str, message: Mapping[str, JSON]) -> None:
        """Send `message` (JSON-encoded) to every subscriber of `channel`."""

    @abstractmethod
    async def start(self) -> None:
        """Begin receiving; the app lifespan calls it once before serving."""

    async def aclose(self) -> None:
        self._closed = True
        for consumers in self._consumers.values():
            for subscription in consumers:
                subscription.close()
        self._consumers.clear()

    @abstractmethod
    def delivery_epoch(self, within_seconds: float) -> int | None:
        """Whether everything published up to `within_seconds` ago has reached this
        process: the current epoch if so, else None. The epoch changes whenever delivery
        may have had a gap (a lost connection), so state derived from messages under an
        older epoch is not to be trusted any more."""

    async def listen(self, channel: str, handle: Callable[[Message], None]) -> None:
        """Call `handle` with every message of `channel` until the hub closes."""
        self._check_open()
        self._consumers.setdefault(channel, set()).add(Listener(channel, handle))
        await self._listen(channel)

    def consumer_count(self, channel: str) -> int:
        return len(self._consumers.get(channel, ()))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        self._check_open()
        subscription = Subscription(channel, self._queue_size)
        self._consumers.setdefault(channel, set()).add(subscription)
        try:
            await self._listen(channel)
            yield subscription
        finally:
            self._leave(subscription)

    @abstractmethod
    async def _listen(self, channel: str) -> None:
        """Return once messages published to `channel` from now on will reach this process."""

    @abstractmethod
    def _release(self, channel: str) -> None:
        """`channel` has lost its last subscriber. Synchronous, so that leaving works even
        inside a cancelled task."""

    def _leave(self, subscription: Consumer) -> None:
        consumers = self._consumers.get(subscription.channel)
        if consumers is None:
            return
        consumers.discard(subscription)
        if not consumers:
            del self._consumers[subscription.channel]
            self._release(subscription.channel)

    def _deliver(self, channel: str, raw: bytes) -> None:
        consumers = self._consumers.get(channel)
        if not consumers:
            return
        data = decode(raw)
        if data is None:
            logger.warning(
                "dropped a message that is not a JSON object", extra={"channel": channel}
            )
            return
        message = Message(channel, data, raw)
        dropped = [subscription for subscription in consumers if not subscription.offer(message)]
        for subscription in dropped:
            consumers.discard(subscription)
            logger.warning("dropped a subscriber that fell behind", extra={"channel": channel})

    def _check_open(self) -> None:
        if self._closed:
            raise HubUnavailable("the pub/sub hub is closed")
