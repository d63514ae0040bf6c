"""SQL over the job table. Every state change is one conditional UPDATE, so two deliveries
of one job (a redelivery, a sweep) can never both run it."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.jobs.models import Job, JobStatus, Payload
from storefront.kit.models import utc_now


async def add(
    session: AsyncSession,
    *,
    name: str,
    payload: Payload,
    max_attempts: int,
    run_after: datetime,
    dispatched_at: datetime | None,
    trace_context: dict[str, str] | None = None,
) -> Job:
    job = Job(
        name=name,
        payload=payload,
        status=JobStatus.QUEUED,
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after,
        dispatched_at=dispatched_at,
        trace_context=trace_context,
    )
    session.add(job)
    await session.flush()
    return job


async def get(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return await session.get(Job, job_id)


async def claim(session: AsyncSession, job_id: uuid.UUID, *, lease: timedelta) -> Job | None:
    """Mark the job running if it is due, or if its last runner's lease has expired."""
    now = utc_now()
    claimable = or_(
        and_(Job.status == JobStatus.QUEUED, Job.run_after <= now),
        and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now),
    )
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, claimable)
        .values(
            status=JobStatus.RUNNING,
            attempts=Job.attempts + 1,
            started_at=now,
            lease_expires_at=now + lease,
            updated_at=now,
        )
        .returning(Job)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def renew_leases(
    session: AsyncSession, running: Mapping[uuid.UUID, int], *, lease: timedelta
) -> set[uuid.UUID]:
    """Extend the lease of each job still running `attempt` (id → attempt); the renewed ids."""
    if not running:
        return set()
    result = await session.execute(
        update(Job)
        .where(
            Job.status == JobStatus.RUNNING,
            or_(
                *(
                    and_(Job.id == job_id, Job.attempts == attempt)
                    for job_id, attempt in running.items()
                )
            ),
        )
        .values(lease_expires_at=utc_now() + lease)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return set(result.scalars())


async def taken_over(session: AsyncSession, held: Mapping[uuid.UUID, int]) -> list[uuid.UUID]:
    """Of these jobs (id → attempt), those running another attempt now."""
    rows = await session.execute(
        select(Job.id, Job.attempts).where(Job.id.in_(list(held)), Job.status == JobStatus.RUNNING)
    )
    return [job_id for job_id, attempts in rows if attempts != held[job_id]]


async def finish(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    attempt: int,
    status: JobStatus,
    error: str | None = None,
) -> bool:
    """Record the outcome of `attempt`; a stale runner (its lease taken over) changes nothing."""
    now = utc_now()
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.attempts == attempt)
        .values(
            status=status,
            error=error,
            finished_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def requeue(
    session: AsyncSession, job_id: uuid.UUID, *, attempt: int, error: str, run_after: datetime
) -> bool:
    """Put a failed attempt back in the queue for a retry at `run_after`."""
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.attempts == attempt)
        .values(
            status=JobStatus.QUEUED,
            error=error,
            run_after=run_after,
            dispatched_at=run_after,
            lease_expires_at=None,
            updated_at=utc_now(),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def fail_exhausted(session: AsyncSession, job: Job, *, error: str) -> None:
    job.status = JobStatus.FAILED
    job.error = error
    job.finished_at = utc_now()
    job.lease_expires_at = None
    await session.flush()


async def take_stranded(
    session: AsyncSession, *, redispatch_before: datetime, limit: int
) -> Sequence[tuple[uuid.UUID, str]]:
    """Jobs no broker message will run: queued and due but sent long ago (or never), or
    running under an expired lease (the worker died). Marked as sent again now."""
    now = utc_now()
    stranded = or_(
        and_(
            Job.status == JobStatus.QUEUED,
            Job.run_after <= now,
            or_(Job.dispatched_at.is_(None), Job.dispatched_at <= redispatch_before),
        ),
        and_(
            Job.status == JobStatus.RUNNING,
            Job.lease_expires_at < now,
            or_(Job.dispatched_at.is_(None), Job.dispatched_at <= redispatch_before),
        ),
    )
    query = (
        select(Job.id, Job.name)
        .where(stranded)
        .order_by(Job.run_after)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = [(job_id, name) for job_id, name in await session.execute(query)]
    if rows:
        await session.execute(
            update(Job)
            .where(Job.id.in_([job_id for job_id, _ in rows]))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
    return rows


async def count_by_status(session: AsyncSession) -> dict[JobStatus, int]:
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    counts = dict.fromkeys(JobStatus, 0)
    counts.update((status, count) for status, count in rows)
    return counts
