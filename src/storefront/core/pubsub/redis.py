"""Pub/sub across processes through Redis: one connection and one reader task per process.

Redis pub/sub is at-most-once: a message published while this process is disconnected
never reaches it. Live updates tolerate that; anything that must not be lost is a job.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from storefront.core.pubsub.backoff import Backoff
from storefront.core.pubsub.hub import Hub, HubUnavailable, encode
from storefront.core.pubsub.subscription import JSON

NAMESPACE = "storefront:"

logger = logging.getLogger("storefront.pubsub")


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    # Python 3.11's asyncio.wait_for, which redis-py uses for every write, loses a
    # cancellation that lands as the write completes: cancel until the task has stopped.
    while pending := {task for task in tasks if not task.done()}:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
    await asyncio.gather(*tasks, return_exceptions=True)


class RedisHub(Hub):
    """`publish` raises `HubUnavailable` when Redis does not take the message within the
    timeout; entering `subscribe` raises it when Redis does not confirm the subscription.
    A subscription that is already open survives outages: the reader reconnects with
    back-off and subscribes again to every channel that still has a subscriber.

    Every `heartbeat_seconds` the reader pings Redis on the subscribed connection. Redis
    answers in order with the messages it pushes, so a pong proves that everything
    published before its ping has arrived: `delivery_epoch` says how recently that was.
    """

    def __init__(
        self,
        url: str,
        *,
        publisher: Redis,
        owns_publisher: bool,
        queue_size: int,
        timeout_seconds: float,
        keepalive_seconds: float = 10.0,
        heartbeat_seconds: float = 0.25,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self._publisher = publisher
        self._owns_publisher = owns_publisher
        self._timeout = timeout_seconds
        self._keepalive = keepalive_seconds
        self._heartbeat = heartbeat_seconds
        self._backoff = backoff or Backoff()
        self._subscriber = Redis.from_url(
            url,
            socket_connect_timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            socket_keepalive=True,
            # Reconnecting is the reader's job (back-off, then a full resubscribe): redis-py
            # must report a broken connection instead of quietly repairing it.
            retry=Retry(NoBackoff(), 0, supported_errors=()),
        )
        self._pubsub: PubSub | None = None
        # Guards the live connection and what was sent on it, so commands go out in order.
        self._lock = asyncio.Lock()
        self._subscribed: set[str] = set()
        self._unconfirmed: dict[str, int] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._broken = False
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # When the pings still unanswered were sent, oldest first, and when the latest
        # answered one was: delivery is known complete up to then, in this epoch.
        self._pings: deque[float] = deque()
        self._confirmed_at = float("-inf")
        self._epoch = 0

    @property
    def is_connected(self) -> bool:
        return self._pubsub is not None

    def delivery_epoch(self, within_seconds: float) -> int | None:
        if asyncio.get_running_loop().time() - self._confirmed_at > within_seconds:
            return None
        return self._epoch

    async def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._run(), name="pubsub-reader")

    async def aclose(self) -> None:
        await super().aclose()
        await stop([*self._tasks, *([self._reader] if self._reader else [])])
        await self._disconnect()
        await self._subscriber.aclose()
        if self._owns_publisher:
            await self._publisher.aclose()

    async def publish(self, channel: str, message: Mapping[str, JSON]) -> None:
        self._check_open()
        raw = encode(message)
        try:
            async with asyncio.timeout(self._timeout):
                await self._publisher.publish(NAMESPACE + channel, raw)
        except (RedisError, OSError) as error:
            raise HubUnavailable(f"could not publish to {channel!r}") from error

    async def _listen(self, channel: str) -> None:
        ready = self._ready.setdefault(channel, asyncio.Event())
        await self._sync(channel)
        try:
            async with asyncio.timeout(self._timeout):
                await ready.wait()
        except TimeoutError:
            raise HubUnavailable(f"Redis did not confirm the subscription to {channel!r}") from None

    def _release(self, channel: str) -> None:
        if self._closed:
            return
        task = asyncio.create_task(self._sync(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sync(self, channel: str) -> None:
        """Make Redis match whether `channel` has subscribers; called on every change."""
        async with self._lock:
            wanted = channel in self._consumers
            if not wanted:
                self._ready.pop(channel, None)
            pubsub = self._pubsub
            if pubsub is None or wanted == (channel in self._subscribed):
                return  # disconnected: the reconnection subscribes to what is wanted then
            try:
                if wanted:
                    self._subscribed.add(channel)
                    self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
                    await pubsub.subscribe(NAMESPACE + channel)
                else:
                    self._subscribed.discard(channel)
                    await pubsub.unsubscribe(NAMESPACE + channel)
            except (RedisError, OSError) as error:
                logger.warning("pub/sub command failed: %s", type(error).__name__)
                self._broken = True

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                pubsub = await self._connect()
                if failures:
                    logger.info("pub/sub reconnected", extra={"failed_attempts": failures})
                failures = 0
                self._backoff.reset()
                await self._read(pubsub)
            except Exception as error:
                failures += 1
                logger.warning(
                    "pub/sub connection lost (%s); reconnecting",
                    type(error).__name__,
                    exc_info=not isinstance(error, RedisError | OSError),
                )
            await self._disconnect()
            await asyncio.sleep(self._backoff.next_delay())

    async def _connect(self) -> PubSub:
        async with self._lock:
            pubsub = self._subscriber.pubsub()
            channels = list(self._consumers)
            try:
                await pubsub.connect()  # type: ignore[no-untyped-call]
                if channels:
                    await pubsub.subscribe(*(NAMESPACE + channel for channel in channels))
            except BaseException:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            self._subscribed = set(channels)
            self._unconfirmed = dict.fromkeys(channels, 1)
            self._broken = False
            self._pubsub = pubsub
            return pubsub

    async def _disconnect(self) -> None:
        async with self._lock:
            # What arrives on a new connection may follow a gap: a new epoch.
            self._epoch += 1
            self._confirmed_at = float("-inf")
            self._pings.clear()
            pubsub, self._pubsub = self._pubsub, None
            self._subscribed.clear()
            self._unconfirmed.clear()
            for ready in self._ready.values():
                ready.clear()
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        heard_at = pinged_at = loop.time()
        while not self._broken:
            now = loop.time()
            if now - pinged_at >= self._heartbeat:
                self._pings.append(now)
                pinged_at = now
                await pubsub.ping()
            message = await pubsub.get_message(timeout=self._heartbeat)
            if message is not None:
                heard_at = loop.time()
                self._handle(message)
                continue
            # A silent connection may be a dead one (no RST across a partition).
            silence = loop.time() - heard_at
            if silence > self._keepalive + self._timeout:
                raise RedisConnectionError(f"no reply from Redis for {silence:.1f}s")
        raise RedisConnectionError("a subscribe or unsubscribe command failed")

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "pong":
            if self._pings:
                self._confirmed_at = self._pings.popleft()
        elif kind == "message":
            self._deliver(self._local_name(message["channel"]), message["data"])
        elif kind == "subscribe":
            self._confirm(self._local_name(message["channel"]))

    def _confirm(self, channel: str) -> None:
        # Replies arrive in command order: only the reply to the latest SUBSCRIBE means
        # Redis has also applied any UNSUBSCRIBE sent before it.
        remaining = self._unconfirmed.get(channel, 0) - 1
        if remaining > 0:
            self._unconfirmed[channel] = remaining
            return
        self._unconfirmed.pop(channel, None)
        if channel in self._subscribed and channel in self._ready:
            self._ready[channel].set()

    @staticmethod
    def _local_name(redis_channel: bytes) -> str:
        return redis_channel.decode().removeprefix(NAMESPACE)
