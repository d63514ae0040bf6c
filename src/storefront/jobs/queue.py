"""The broker behind the jobs: taskiq's in-memory broker in one process, a Redis Stream with
acknowledgements across processes. Broker messages only say "run job <id>"; the job's
payload and state live in the database."""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from taskiq import AsyncBroker, InMemoryBroker
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisStreamBroker

from storefront.core.config import Settings

STREAM = "storefront:jobs"
CONSUMER_GROUP = "storefront-workers"
DISPATCH_TIMEOUT_SECONDS = 5.0
XREAD_BLOCK_MS = 2000

logger = logging.getLogger("storefront.jobs")

RunJob = Callable[[str, str], Awaitable[None]]


def redelivery_idle_ms(settings: Settings) -> int:
    """A message unacknowledged this long belongs to a dead worker and is claimed again."""
    return int((settings.job_timeout_seconds + lease_margin_seconds(settings)) * 1000) + 1000


def lease_margin_seconds(settings: Settings) -> float:
    return max(1.0, settings.job_timeout_seconds * 0.1)


def create_broker(settings: Settings) -> AsyncBroker:
    if settings.jobs_inline or not settings.redis_url:
        # await_inplace runs a job inside the sending call: the tests use it so that a
        # request's jobs have finished when its response arrives.
        return InMemoryBroker(
            max_async_tasks=settings.worker_concurrency, await_inplace=settings.jobs_inline
        )
    return RedisStreamBroker(
        settings.redis_url,
        queue_name=STREAM,
        consumer_group_name=CONSUMER_GROUP,
        # "0": a group created after jobs were sent still reads them.
        consumer_id="0",
        maxlen=settings.job_stream_maxlen,
        approximate=True,
        xread_block=XREAD_BLOCK_MS,
        idle_timeout=redelivery_idle_ms(settings),
        unacknowledged_lock_timeout=max(5.0, XREAD_BLOCK_MS / 1000 * 2),
        socket_connect_timeout=settings.redis_timeout_seconds,
        socket_timeout=XREAD_BLOCK_MS / 1000 + settings.redis_timeout_seconds,
        max_connection_pool_size=settings.worker_concurrency + 4,
        timeout=settings.redis_timeout_seconds,
    )


class JobQueue:
    """Sends "run job <id>" messages; each job name is a taskiq task of the same name."""

    def __init__(self, settings: Settings, broker: AsyncBroker) -> None:
        self.settings = settings
        self.broker = broker

    def register(self, name: str, run: RunJob) -> None:
        async def run_job(job_id: str) -> None:
            await run(name, job_id)

        self.broker.register_task(run_job, task_name=name)

    async def dispatch(self, name: str, job_id: uuid.UUID) -> bool:
        """Hand the job to the broker; False (logged) if it could not be reached in time,
        in which case the sweep sends it later."""
        kicker: AsyncKicker[[str], None] = AsyncKicker(name, self.broker, labels={})
        # Inline, the send is the run: the job's own timeout bounds it, not this one.
        timeout = None if self.settings.jobs_inline else DISPATCH_TIMEOUT_SECONDS
        try:
            async with asyncio.timeout(timeout):
                await kicker.kiq(str(job_id))
        except Exception as error:  # the commit stands whatever the broker did
            logger.warning(
                "job dispatch failed; the sweep will send it again",
                extra={"job": name, "job_id": str(job_id), "error": type(error).__name__},
            )
            return False
        return True

    async def send(self, name: str, job_id: uuid.UUID) -> None:
        """`dispatch` as an after-commit effect."""
        await self.dispatch(name, job_id)

    @property
    def is_in_memory(self) -> bool:
        return isinstance(self.broker, InMemoryBroker)

    async def start(self) -> None:
        await self.broker.startup()

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for jobs running in this process: the in-memory broker's."""
        if isinstance(self.broker, InMemoryBroker) and self.broker._running_tasks:
            await asyncio.wait(self.broker._running_tasks, timeout=timeout)

    async def aclose(self) -> None:
        await self.broker.shutdown()
