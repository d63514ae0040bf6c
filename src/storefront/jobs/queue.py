"""The broker behind the jobs: taskiq's in-memory broker in one process, a Redis Stream with
acknowledgements across processes. Broker messages only say "run job <id>"; the job's
payload and state live in the database."""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from taskiq import AsyncBroker, InMemoryBroker
from taskiq.kicker import AsyncKicker

from storefront.core.config import Settings
from storefront.jobs.lease import lease_for
from storefront.jobs.stream import JobStream

STREAM = "storefront:jobs"
CONSUMER_GROUP = "storefront-workers"
DISPATCH_TIMEOUT_SECONDS = 5.0

logger = logging.getLogger("storefront.jobs")

RunJob = Callable[[str, str], Awaitable[None]]


def create_broker(settings: Settings) -> AsyncBroker:
    if settings.jobs_inline or not settings.redis_url:
        # await_inplace runs a job inside the sending call: the tests use it so that a
        # request's jobs have finished when its response arrives.
        return InMemoryBroker(
            max_async_tasks=settings.worker_concurrency, await_inplace=settings.jobs_inline
        )
    return JobStream(
        settings.redis_url,
        stream=STREAM,
        group=CONSUMER_GROUP,
        lease=lease_for(settings),
        maxlen=settings.job_stream_maxlen,
        timeout_seconds=settings.redis_timeout_seconds,
        # The reader, one acknowledgement per running job, the heartbeat and sends.
        pool_size=settings.worker_concurrency + 4,
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

    @property
    def consumer(self) -> str | None:
        """This process's name in the stream's consumer group, if it reads the stream."""
        return self.broker.consumer_name if isinstance(self.broker, JobStream) else None

    async def touch(self) -> None:
        """Keep the stream messages of the running jobs from looking abandoned."""
        if isinstance(self.broker, JobStream):
            await self.broker.touch()

    async def start(self) -> None:
        await self.broker.startup()

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for jobs running in this process: the in-memory broker's."""
        if isinstance(self.broker, InMemoryBroker) and self.broker._running_tasks:
            await asyncio.wait(self.broker._running_tasks, timeout=timeout)

    async def aclose(self) -> None:
        await self.broker.shutdown()
