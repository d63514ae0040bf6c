"""The job machinery of one process, started and stopped by its lifespan (API) or by
`storefront worker`."""

import asyncio
import contextlib
import logging

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.jobs.lease import Leases, lease_for, renew_forever
from storefront.jobs.queue import JobQueue, create_broker
from storefront.jobs.registry import JOBS
from storefront.jobs.runner import JobRunner
from storefront.jobs.sweep import sweep_forever

logger = logging.getLogger("storefront.jobs")


class Jobs:
    def __init__(self, settings: Settings, database: Database) -> None:
        # Importing the task modules registers every domain's jobs.
        import storefront.tasks  # noqa: F401

        self.settings = settings
        self.database = database
        self.queue = JobQueue(settings, create_broker(settings))
        self.leases = Leases(lease_for(settings))
        self.runner = JobRunner(settings, database, self.queue, self.leases)
        for name in JOBS:
            self.queue.register(name, self.runner.run)
        self._sweeper: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def runs_in_process(self) -> bool:
        """No Redis: jobs run in this process (and so does the sweep)."""
        return self.queue.is_in_memory

    async def start(self, *, sweep: bool) -> None:
        await self.queue.start()
        self._heartbeat = asyncio.create_task(
            renew_forever(self.leases, self.database, self.queue.touch), name="job-heartbeat"
        )
        if sweep and self.settings.job_sweep_enabled:
            self._sweeper = asyncio.create_task(
                sweep_forever(self.settings, self.database, self.queue), name="job-sweep"
            )

    async def aclose(self, *, drain_timeout: float) -> None:
        await _stop(self._sweeper)
        self.runner.cancel_timers()
        await self.queue.drain(drain_timeout)
        # Only now: the jobs that were draining kept their leases.
        await _stop(self._heartbeat)
        await self.queue.aclose()


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
