"""Enqueueing: a job row in the caller's transaction, its message sent after the commit."""

import uuid
from datetime import datetime
from functools import partial

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.db import after_commit
from storefront.core.errors import NotFound
from storefront.core.tracing import current_carrier
from storefront.jobs import repository
from storefront.jobs.models import Job, JobStatus
from storefront.jobs.queue import JobQueue
from storefront.jobs.registry import get_spec
from storefront.kit.models import utc_now


async def enqueue(
    session: AsyncSession,
    *,
    queue: JobQueue,
    name: str,
    payload: BaseModel,
    max_attempts: int | None = None,
    run_after: datetime | None = None,
) -> Job:
    """Record the job as queued; it is sent to the broker only if the transaction commits.

    A crash between the commit and the send leaves it queued, and the sweep sends it.
    """
    spec = get_spec(name)
    if not isinstance(payload, spec.payload_model):
        raise TypeError(f"job {name!r} takes {spec.payload_model.__name__}")
    now = utc_now()
    due_now = run_after is None or run_after <= now
    job = await repository.add(
        session,
        name=name,
        payload=payload.model_dump(mode="json"),
        max_attempts=max_attempts or spec.max_attempts or queue.settings.job_max_attempts,
        run_after=run_after or now,
        # A later job is left to the sweep, which sends it once it falls due.
        dispatched_at=now if due_now else None,
        trace_context=current_carrier(),
    )
    if due_now:
        after_commit(session, partial(queue.send, name, job.id))
    return job


async def get(session: AsyncSession, job_id: uuid.UUID) -> Job:
    job = await repository.get(session, job_id)
    if job is None:
        raise NotFound("The job does not exist.")
    return job


async def count_by_status(session: AsyncSession) -> dict[JobStatus, int]:
    return await repository.count_by_status(session)
