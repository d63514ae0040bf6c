"""The safety net under the broker: re-sends jobs that no message will run any more.

A job is stranded when the process crashed between its commit and its send, when a retry
fell due while no process was alive to send it, or when its worker died mid-job (SIGKILL)
and its lease expired. The sweep takes them with SKIP LOCKED, so several workers can sweep
at once without sending a job twice in one round.
"""

import asyncio
import logging
import time
from datetime import timedelta

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs import repository
from storefront.jobs import service as jobs_service
from storefront.jobs.queue import JobQueue
from storefront.jobs.registry import PERIODIC, get_spec
from storefront.kit.models import utc_now

BATCH = 500

logger = logging.getLogger("storefront.jobs")


async def sweep_once(settings: Settings, database: Database, queue: JobQueue) -> int:
    redispatch_before = utc_now() - timedelta(seconds=settings.job_redispatch_after_seconds)
    async with unit_of_work(database.sessionmaker) as session:
        stranded = await repository.take_stranded(
            session, redispatch_before=redispatch_before, limit=BATCH
        )
    sent = 0
    for job_id, name in stranded:
        if not await queue.dispatch(name, job_id):
            # The broker is out of reach (logged): the rest would wait out the same timeout
            # one by one. Marked as sent, they are taken again after the redispatch delay.
            break
        sent += 1
    if stranded:
        logger.info("sweep re-sent stranded jobs", extra={"count": sent, "stranded": len(stranded)})
    return len(stranded)


class Schedule:
    """When each periodic job is next due in this process (the first run: one interval
    after start, so a crash loop does not run them at every start)."""

    def __init__(self, periodic: dict[str, float]) -> None:
        started = time.monotonic()
        self.periodic = dict(periodic)
        self.next_run = {name: started + every for name, every in periodic.items()}

    def due(self) -> list[str]:
        now = time.monotonic()
        names = [name for name, at in self.next_run.items() if at <= now]
        for name in names:
            self.next_run[name] = now + self.periodic[name]
        return names


async def enqueue_due(schedule: Schedule, database: Database, queue: JobQueue) -> None:
    for name in schedule.due():
        async with unit_of_work(database.sessionmaker) as session:
            await jobs_service.enqueue(
                session, queue=queue, name=name, payload=get_spec(name).payload_model()
            )


async def sweep_forever(settings: Settings, database: Database, queue: JobQueue) -> None:
    schedule = Schedule(PERIODIC)
    while True:
        try:
            await sweep_once(settings, database, queue)
            await enqueue_due(schedule, database, queue)
        except Exception as error:
            # The database may be down; the next round tries again.
            logger.warning("job sweep failed", extra={"error": type(error).__name__})
        await asyncio.sleep(settings.job_sweep_interval_seconds)
