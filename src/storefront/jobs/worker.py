"""`storefront worker`: runs jobs from the Redis stream and sweeps for stranded ones.

SIGTERM or SIGINT stops taking new messages and waits (bounded) for the running jobs; a
job cut short is not acknowledged, so another worker runs it once its lease expires.
"""

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.core.memory import return_freed_memory
from storefront.core.tracing import WORKER_SERVICE, create_tracing
from storefront.jobs.runtime import Jobs

logger = logging.getLogger("storefront.jobs")


async def run_worker(settings: Settings, *, drain_timeout: float) -> None:
    return_freed_memory()
    database = Database(settings)
    jobs = Jobs(settings, database)
    if jobs.runs_in_process:
        raise RuntimeError("storefront worker needs REDIS_URL: without it jobs run in the API")
    tracing = create_tracing(settings, service_name=WORKER_SERVICE)
    if tracing is not None:
        tracing.start(database.engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await jobs.start(sweep=True)
    logger.info(
        "worker started",
        extra={"concurrency": settings.worker_concurrency, "consumer": jobs.queue.consumer},
    )
    try:
        with ThreadPoolExecutor(max_workers=settings.worker_concurrency) as executor:
            receiver = Receiver(
                broker=jobs.queue.broker,
                executor=executor,
                run_startup=False,
                max_async_tasks=settings.worker_concurrency,
                # The Receiver asks the stream for a message only while it has a free job
                # slot, and JobStream reads one per ask: a worker holds no more messages
                # than it can run at once, so the others get the rest.
                max_prefetch=0,
                # Acknowledge only once the job's outcome is recorded: a worker killed
                # mid-job leaves its message pending, to be claimed by another.
                ack_type=AcknowledgeType.WHEN_EXECUTED,
                wait_tasks_timeout=drain_timeout,
            )
            jobs.queue.broker.is_worker_process = True
            await receiver.listen(stop)
    finally:
        await jobs.aclose(drain_timeout=drain_timeout)
        await database.dispose()
        if tracing is not None:
            await tracing.aclose()  # last: the spans of the jobs that drained go out
        logger.info("worker stopped")
