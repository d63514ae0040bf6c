"""Runs one delivery of a job: claim it, run its handler in its own unit of work under a
timeout, then record success, a retry with exponential back-off, or failure.

The retry is written to the database (`queued`, `run_after`) before anything else, so it
survives a restart: this process sends it when it falls due, and if the process is gone
by then the sweep does.
"""

import asyncio
import logging
import random
import uuid
from datetime import timedelta

from pydantic import ValidationError

from storefront.core import tracing
from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs import repository
from storefront.jobs.lease import Leases
from storefront.jobs.models import Job, JobStatus
from storefront.jobs.queue import JobQueue
from storefront.jobs.registry import JobContext, JobSpec, PermanentJobError, get_spec
from storefront.kit.models import utc_now

MAX_ERROR_LENGTH = 2000

logger = logging.getLogger("storefront.jobs")


def retry_delay(settings: Settings, attempt: int) -> float:
    """Exponential back-off with ±20 % jitter so failed jobs do not retry in lockstep."""
    delay = min(
        settings.job_retry_max_seconds, settings.job_retry_base_seconds * 2.0 ** (attempt - 1)
    )
    return delay * random.uniform(0.8, 1.2)  # jitter, not a secret


def describe(error: BaseException) -> str:
    text = str(error).strip()
    described = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return described[:MAX_ERROR_LENGTH]


class JobRunner:
    def __init__(
        self, settings: Settings, database: Database, queue: JobQueue, leases: Leases
    ) -> None:
        self.settings = settings
        self.database = database
        self.queue = queue
        self.leases = leases
        self._timers: set[asyncio.Task[None]] = set()

    def timeout_for(self, spec: JobSpec) -> float:
        return spec.timeout_seconds or self.settings.job_timeout_seconds

    async def run(self, name: str, raw_job_id: str) -> None:
        spec = get_spec(name)
        job_id = uuid.UUID(raw_job_id)
        # Short, and renewed while the job runs: a dead runner's jobs are free again soon.
        lease = timedelta(seconds=self.leases.lease.seconds)
        async with unit_of_work(self.database.sessionmaker) as session:
            job = await repository.claim(session, job_id, lease=lease)
            if job is not None and job.attempts > job.max_attempts:
                # Its runners kept dying (killed mid-job): stop here.
                await repository.fail_exhausted(session, job, error=job.error or "worker lost")
                logger.error("job failed: attempts exhausted", extra=_job_fields(job))
                return
        if job is None:
            # Already done, taken by a live runner, or not due yet: a duplicate delivery.
            logger.debug("job delivery skipped", extra={"job": name, "job_id": raw_job_id})
            return
        with (
            self.leases.hold(job.id, job.attempts),
            tracing.job_span(
                job.name, job_id=raw_job_id, attempt=job.attempts, carrier=job.trace_context
            ),
        ):
            await self._execute(spec, job)

    async def _execute(self, spec: JobSpec, job: Job) -> None:
        context = JobContext(
            settings=self.settings,
            database=self.database,
            queue=self.queue,
            job_id=str(job.id),
            attempt=job.attempts,
            max_attempts=job.max_attempts,
        )
        logger.info("job started", extra=_job_fields(job))
        try:
            payload = spec.payload_model.model_validate(job.payload)
            async with asyncio.timeout(self.timeout_for(spec)):
                await spec.handler(context, payload)
        except asyncio.CancelledError:
            # Shutdown cut the job short: the lease expires and it runs again elsewhere.
            logger.warning("job interrupted", extra=_job_fields(job))
            raise
        except Exception as error:
            tracing.record_failure(error)
            await self._record_failure(job, error)
            return
        async with unit_of_work(self.database.sessionmaker) as session:
            await repository.finish(
                session, job.id, attempt=job.attempts, status=JobStatus.SUCCEEDED
            )
        logger.info("job succeeded", extra=_job_fields(job))

    async def _record_failure(self, job: Job, error: Exception) -> None:
        reason = describe(error)
        # A payload that does not validate will not validate next time either.
        permanent = isinstance(error, PermanentJobError | ValidationError)
        fields = {**_job_fields(job), "error": reason}
        if permanent or job.attempts >= job.max_attempts:
            async with unit_of_work(self.database.sessionmaker) as session:
                await repository.finish(
                    session, job.id, attempt=job.attempts, status=JobStatus.FAILED, error=reason
                )
            logger.error("job failed", extra=fields, exc_info=not permanent)
            return
        delay = retry_delay(self.settings, job.attempts)
        run_after = utc_now() + timedelta(seconds=delay)
        async with unit_of_work(self.database.sessionmaker) as session:
            requeued = await repository.requeue(
                session, job.id, attempt=job.attempts, error=reason, run_after=run_after
            )
        logger.warning("job will be retried", extra={**fields, "retry_in": round(delay, 3)})
        if requeued:
            self._send_later(job.name, job.id, delay)

    def _send_later(self, name: str, job_id: uuid.UUID, delay: float) -> None:
        async def send() -> None:
            await asyncio.sleep(delay)
            await self.queue.dispatch(name, job_id)

        timer = asyncio.get_running_loop().create_task(send())
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()


def _job_fields(job: Job) -> dict[str, object]:
    return {
        "job": job.name,
        "job_id": str(job.id),
        "attempt": job.attempts,
        "max_attempts": job.max_attempts,
    }
