"""Leases: short whatever the job timeout, renewed for the jobs a process holds, and a lease
taken over by another runner is reported, a finished job is not."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs import repository
from storefront.jobs.lease import MAX_LEASE_SECONDS, Lease, Leases, lease_for
from storefront.jobs.models import Job, JobStatus
from storefront.kit.models import utc_now
from tests.jobs.sample_tasks import Marked

pytestmark = pytest.mark.anyio


async def claimed_job(database: Database, *, lease: timedelta) -> Job:
    async with unit_of_work(database.sessionmaker) as session:
        job = await repository.add(
            session,
            name="test.record",
            payload=Marked(marker=uuid.uuid4().hex).model_dump(),
            max_attempts=3,
            run_after=utc_now(),
            dispatched_at=utc_now(),
        )
    async with unit_of_work(database.sessionmaker) as session:
        claimed = await repository.claim(session, job.id, lease=lease)
    assert claimed is not None and claimed.lease_expires_at is not None
    return claimed


async def load(database: Database, job_id: uuid.UUID) -> Job:
    async with database.sessionmaker() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


def test_a_lease_is_short_whatever_the_job_timeout(job_settings: Settings) -> None:
    long = lease_for(job_settings.model_copy(update={"job_timeout_seconds": 3600.0}))
    short = lease_for(job_settings.model_copy(update={"job_timeout_seconds": 1.0}))

    assert long.seconds == MAX_LEASE_SECONDS
    assert short.seconds == 2.0  # the timeout and its margin: the job cannot run longer
    assert long.renew_every == MAX_LEASE_SECONDS / 3
    # A held message looks abandoned only after its job's lease, renewed just before, ran out.
    assert long.abandoned_after - long.seconds >= long.renew_every


async def test_renewing_extends_the_lease_of_the_jobs_held(job_database: Database) -> None:
    job = await claimed_job(job_database, lease=timedelta(seconds=1))
    leases = Leases(Lease(seconds=60))

    with leases.hold(job.id, job.attempts):
        await leases.renew(job_database)
    after = await load(job_database, job.id)
    await leases.renew(job_database)  # no longer held: left alone

    assert job.lease_expires_at is not None and after.lease_expires_at is not None
    assert after.lease_expires_at - job.lease_expires_at > timedelta(seconds=50)
    assert (await load(job_database, job.id)).lease_expires_at == after.lease_expires_at


async def test_a_lease_taken_over_is_reported_and_left_to_its_new_runner(
    job_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    taken = await claimed_job(job_database, lease=timedelta(seconds=1))
    finished = await claimed_job(job_database, lease=timedelta(seconds=1))
    async with unit_of_work(job_database.sessionmaker) as session:
        # Another runner claimed `taken` once its lease ran out; `finished` just finished.
        await session.execute(
            update(Job).where(Job.id == taken.id).values(attempts=2, lease_expires_at=None)
        )
        await repository.finish(
            session, finished.id, attempt=finished.attempts, status=JobStatus.SUCCEEDED
        )
    leases = Leases(Lease(seconds=60))

    with leases.hold(taken.id, taken.attempts), leases.hold(finished.id, finished.attempts):
        await leases.renew(job_database)

    lost = [record for record in caplog.records if record.getMessage() == "job lease lost"]
    assert [record.__dict__["job_id"] for record in lost] == [str(taken.id)]
    assert (await load(job_database, taken.id)).lease_expires_at is None
