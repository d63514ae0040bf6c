"""The Redis Stream the workers consume, read so that a worker holds only what it runs and
outlives any Redis outage.

taskiq-redis's `RedisStreamBroker.listen` reads up to 100 messages per XREADGROUP (all of
them pending on that worker, however few it can run), claims a dead worker's messages only
after a read that brought new ones, and ends at the first connection error, which ends
the worker. Here, instead:

- each step reads one message: taskiq's `Receiver` asks for the next one only when a job
  slot is free, so a worker holds at most `WORKER_CONCURRENCY` messages;
- every few seconds, messages left idle by a dead worker are claimed (XAUTOCLAIM), one
  at a time; the heartbeat (`touch`) keeps the held ones from looking idle, so "idle"
  means "its worker is gone" whatever the job's timeout;
- a Redis error is a warning and a reconnection with capped, jittered back-off; the
  consumer group is declared again on each connection (a restarted Redis may have lost it).
"""

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator
from functools import partial
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.typing import StreamIdT
from taskiq import AckableMessage, AsyncBroker
from taskiq_redis import RedisStreamBroker

from storefront.core.pubsub.backoff import Backoff
from storefront.jobs.lease import Lease

XREAD_BLOCK_MS = 2000
CLAIM_INTERVAL_SECONDS = 2.0
RECONNECT_BASE_SECONDS = 0.5
RECONNECT_CAP_SECONDS = 5.0
PASS_COMPLETE = (b"0-0", "0-0")

logger = logging.getLogger("storefront.jobs")


def consumer_name() -> str:
    """Unique per process, and telling operators (XINFO CONSUMERS) whose it is."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class JobStream(RedisStreamBroker):
    def __init__(
        self,
        url: str,
        *,
        stream: str,
        group: str,
        lease: Lease,
        maxlen: int,
        timeout_seconds: float,
        pool_size: int,
    ) -> None:
        super().__init__(
            url,
            queue_name=stream,
            consumer_group_name=group,
            consumer_name=consumer_name(),
            # "0": a group created after jobs were sent still reads them.
            consumer_id="0",
            maxlen=maxlen,
            approximate=True,
            xread_block=XREAD_BLOCK_MS,
            xread_count=1,
            idle_timeout=int(lease.abandoned_after * 1000),
            socket_connect_timeout=timeout_seconds,
            socket_timeout=XREAD_BLOCK_MS / 1000 + timeout_seconds,
            max_connection_pool_size=pool_size,
            # The wait for a free connection of the pool.
            timeout=timeout_seconds,
            # Once, at once, on a fresh connection: after Redis restarts, each pooled
            # connection fails its first command. A repeated send is harmless (a job runs
            # once however many messages name it).
            retry=Retry(NoBackoff(), retries=1),
            retry_on_error=[RedisConnectionError],
        )
        self.redis = Redis(connection_pool=self.connection_pool)
        self._held: set[bytes] = set()
        self._claim_cursor: StreamIdT = "0-0"
        self._claim_due_at = 0.0

    async def startup(self) -> None:
        # Not RedisStreamBroker.startup, which declares the consumer group: `listen` does
        # it, so that neither an API process nor a worker needs Redis up to start.
        await AsyncBroker.startup(self)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        backoff = Backoff(base_seconds=RECONNECT_BASE_SECONDS, cap_seconds=RECONNECT_CAP_SECONDS)
        failures = 0
        while True:
            try:
                await self._declare_group()
                if failures:
                    logger.info("job stream reconnected", extra={"failed_attempts": failures})
                failures = 0
                backoff.reset()
                while True:
                    yield await self._next_message()
            except (RedisError, OSError) as error:
                failures += 1
                delay = backoff.next_delay()
                logger.warning(
                    "job stream unreachable (%s); reconnecting in %.1f s",
                    type(error).__name__,
                    delay,
                    extra={"attempt": failures},
                )
                await asyncio.sleep(delay)

    async def touch(self) -> None:
        """Reset the idle time of the messages this worker holds (XCLAIM to itself)."""
        held = tuple(self._held)
        if not held:
            return
        kept = await self.redis.xclaim(
            self.queue_name,
            self.consumer_group_name,
            self.consumer_name,
            min_idle_time=0,
            message_ids=list[StreamIdT](held),
            justid=True,  # leaves the delivery count alone
        )
        # Not pending any more: acknowledged, or lost with Redis's data.
        self._held.difference_update(set(held) - set(kept))

    async def _declare_group(self) -> None:
        try:
            await self.redis.xgroup_create(
                self.queue_name, self.consumer_group_name, id=self.consumer_id, mkstream=True
            )
        except ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):
                raise

    async def _next_message(self) -> AckableMessage:
        while True:
            claimed = await self._claim_abandoned()
            if claimed is not None:
                return claimed
            fetched: Any = await self.redis.xreadgroup(
                self.consumer_group_name,
                self.consumer_name,
                {self.queue_name: ">"},
                count=1,
                block=XREAD_BLOCK_MS,
            )
            for _stream, entries in fetched or ():
                for message_id, fields in entries:
                    message = await self._hold(message_id, fields)
                    if message is not None:
                        return message

    async def _claim_abandoned(self) -> AckableMessage | None:
        """The next message idle past `abandoned_after`, at most one pass over the pending
        entries every `CLAIM_INTERVAL_SECONDS` (XAUTOCLAIM resumes where it stopped)."""
        while time.monotonic() >= self._claim_due_at:
            cursor, claimed, *_deleted = await self.redis.xautoclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=self.idle_timeout,
                start_id=self._claim_cursor,
                count=1,
            )
            self._claim_cursor = cursor
            if cursor in PASS_COMPLETE:
                self._claim_due_at = time.monotonic() + CLAIM_INTERVAL_SECONDS
            for message_id, fields in claimed:
                logger.info(
                    "job message of a lost worker claimed",
                    extra={"message_id": message_id.decode()},
                )
                message = await self._hold(message_id, fields)
                if message is not None:
                    return message
        return None

    async def _hold(
        self, message_id: bytes, fields: dict[bytes, Any] | None
    ) -> AckableMessage | None:
        data = (fields or {}).get(b"data")
        if not isinstance(data, bytes):
            # Trimmed from the stream, or not ours: nothing to run.
            logger.warning(
                "job message without data dropped", extra={"message_id": message_id.decode()}
            )
            await self._ack(message_id)
            return None
        self._held.add(message_id)
        return AckableMessage(data=data, ack=partial(self._ack, message_id))

    async def _ack(self, message_id: bytes) -> None:
        self._held.discard(message_id)
        try:
            await self.redis.xack(self.queue_name, self.consumer_group_name, message_id)
        except (RedisError, OSError) as error:
            # The job's outcome is in the database: a redelivery finds it done and skips it.
            logger.warning(
                "job message not acknowledged (%s); it may be delivered again",
                type(error).__name__,
                extra={"message_id": message_id.decode()},
            )
