"""Jobs in one process (the embedded mode): sent after commit, retried, swept."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from pydantic import BaseModel

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs import repository, service
from storefront.jobs.models import Job, JobStatus
from storefront.jobs.registry import PERIODIC, get_spec
from storefront.jobs.runtime import Jobs
from storefront.jobs.sweep import Schedule, enqueue_due, sweep_once
from storefront.kit.models import utc_now
from tests.fixtures.jobs import load_job, wait_for_job
from tests.jobs.sample_tasks import RUNS, Flaky, Marked, Slow

pytestmark = pytest.mark.anyio


async def enqueue(jobs: Jobs, name: str, payload: BaseModel, **options: object) -> uuid.UUID:
    async with unit_of_work(jobs.database.sessionmaker) as session:
        job = await service.enqueue(
            session,
            queue=jobs.queue,
            name=name,
            payload=payload,
            **options,  # type: ignore[arg-type]
        )
    return job.id


def marker() -> str:
    return uuid.uuid4().hex


async def test_a_job_runs_once_after_its_commit(jobs: Jobs) -> None:
    name = marker()
    job_id = await enqueue(jobs, "test.record", Marked(marker=name))

    job = await wait_for_job(jobs.database, job_id, JobStatus.SUCCEEDED)

    assert RUNS[name] == 1
    assert job.attempts == 1
    assert job.error is None
    assert job.started_at is not None and job.finished_at is not None
    assert job.finished_at >= job.started_at


async def test_a_rolled_back_transaction_sends_nothing(jobs: Jobs) -> None:
    name = marker()
    job_ids: list[uuid.UUID] = []
    with pytest.raises(RuntimeError):
        async with unit_of_work(jobs.database.sessionmaker) as session:
            job = await service.enqueue(
                session, queue=jobs.queue, name="test.record", payload=Marked(marker=name)
            )
            job_ids.append(job.id)
            raise RuntimeError("the request failed")

    await asyncio.sleep(0.2)
    assert RUNS[name] == 0
    async with jobs.database.sessionmaker() as session:
        assert await session.get(Job, job_ids[0]) is None


async def test_a_failing_job_is_retried_with_backoff_until_it_succeeds(jobs: Jobs) -> None:
    name = marker()
    job_id = await enqueue(jobs, "test.flaky", Flaky(marker=name, succeed_on_attempt=3))

    job = await wait_for_job(jobs.database, job_id, JobStatus.SUCCEEDED)

    assert RUNS[name] == 3
    assert job.attempts == 3


async def test_a_job_that_keeps_failing_ends_failed_with_its_error(jobs: Jobs) -> None:
    name = marker()
    job_id = await enqueue(jobs, "test.flaky", Flaky(marker=name, succeed_on_attempt=99))

    job = await wait_for_job(jobs.database, job_id, JobStatus.FAILED)

    assert RUNS[name] == 3
    assert job.attempts == job.max_attempts == 3
    assert job.error == "ConnectionError: attempt 3 failed"


async def test_a_permanent_error_is_not_retried(jobs: Jobs) -> None:
    name = marker()
    job_id = await enqueue(jobs, "test.permanent", Marked(marker=name))

    job = await wait_for_job(jobs.database, job_id, JobStatus.FAILED)
    await asyncio.sleep(0.3)

    assert RUNS[name] == 1
    assert job.attempts == 1
    assert job.error == "PermanentJobError: the input cannot be processed"


async def test_a_job_past_its_timeout_is_stopped_and_retried(jobs: Jobs) -> None:
    job_id = await enqueue(jobs, "test.slow", Slow(seconds=60), max_attempts=1)

    job = await wait_for_job(jobs.database, job_id, JobStatus.FAILED, timeout=10)

    assert job.error == "TimeoutError"


async def test_duplicate_deliveries_run_a_job_once(jobs: Jobs) -> None:
    name = marker()
    async with unit_of_work(jobs.database.sessionmaker) as session:
        job = await repository.add(
            session,
            name="test.record",
            payload=Marked(marker=name).model_dump(),
            max_attempts=3,
            run_after=utc_now(),
            dispatched_at=utc_now(),
        )

    await asyncio.gather(*(jobs.runner.run("test.record", str(job.id)) for _ in range(10)))

    assert RUNS[name] == 1
    assert (await load_job(jobs.database, job.id)).attempts == 1


async def test_the_sweep_sends_a_job_stranded_between_commit_and_send(jobs: Jobs) -> None:
    name = marker()
    long_ago = utc_now() - timedelta(hours=1)
    async with unit_of_work(jobs.database.sessionmaker) as session:
        # What a crash right after the commit leaves behind: queued, never sent.
        job = await repository.add(
            session,
            name="test.record",
            payload=Marked(marker=name).model_dump(),
            max_attempts=3,
            run_after=long_ago,
            dispatched_at=long_ago,
        )

    assert await sweep_once(jobs.settings, jobs.database, jobs.queue) >= 1
    await wait_for_job(jobs.database, job.id, JobStatus.SUCCEEDED)
    # Just sent: the next round leaves it alone.
    assert await sweep_once(jobs.settings, jobs.database, jobs.queue) == 0
    assert RUNS[name] == 1


async def test_a_job_whose_runner_died_is_run_again_when_its_lease_expires(jobs: Jobs) -> None:
    name = marker()
    long_ago = utc_now() - timedelta(hours=1)
    async with unit_of_work(jobs.database.sessionmaker) as session:
        job = await repository.add(
            session,
            name="test.record",
            payload=Marked(marker=name).model_dump(),
            max_attempts=3,
            run_after=long_ago,
            dispatched_at=long_ago,
        )
        # A worker claimed it and was killed: running, its lease long expired.
        job.status = JobStatus.RUNNING
        job.attempts = 1
        job.lease_expires_at = utc_now() - timedelta(minutes=1)

    await sweep_once(jobs.settings, jobs.database, jobs.queue)
    done = await wait_for_job(jobs.database, job.id, JobStatus.SUCCEEDED)

    assert RUNS[name] == 1
    assert done.attempts == 2


async def test_a_delayed_retry_survives_a_restart(
    job_settings: Settings, job_database: Database
) -> None:
    name = marker()
    slow_retry = job_settings.model_copy(
        update={"job_retry_base_seconds": 0.5, "job_retry_max_seconds": 0.5}
    )
    first = Jobs(slow_retry, job_database)
    await first.start(sweep=False)
    job_id = await enqueue(first, "test.flaky", Flaky(marker=name, succeed_on_attempt=2))
    # The first attempt failed; the retry waits for its time.
    job = await wait_for_job(job_database, job_id, JobStatus.QUEUED, attempts=1)
    assert job.run_after > utc_now()
    # The process stops before the retry falls due: its timer dies with it.
    await first.aclose(drain_timeout=1)

    sweeping = slow_retry.model_copy(
        update={
            "job_sweep_enabled": True,
            "job_sweep_interval_seconds": 0.1,
            "job_redispatch_after_seconds": 0.2,
        }
    )
    second = Jobs(sweeping, job_database)
    await second.start(sweep=True)
    try:
        done = await wait_for_job(job_database, job_id, JobStatus.SUCCEEDED)
    finally:
        await second.aclose(drain_timeout=1)

    assert done.attempts == 2
    assert RUNS[name] == 2


async def test_a_job_scheduled_for_later_waits_for_its_time(jobs: Jobs) -> None:
    name = marker()
    job_id = await enqueue(
        jobs, "test.record", Marked(marker=name), run_after=utc_now() + timedelta(hours=1)
    )
    await asyncio.sleep(0.2)
    assert await sweep_once(jobs.settings, jobs.database, jobs.queue) == 0
    assert RUNS[name] == 0
    assert (await load_job(jobs.database, job_id)).status == JobStatus.QUEUED


async def test_an_unknown_job_or_a_wrong_payload_is_refused_at_enqueue(jobs: Jobs) -> None:
    async with unit_of_work(jobs.database.sessionmaker) as session:
        with pytest.raises(LookupError):
            await service.enqueue(
                session, queue=jobs.queue, name="test.nope", payload=Marked(marker="x")
            )
        with pytest.raises(TypeError):
            await service.enqueue(
                session, queue=jobs.queue, name="test.slow", payload=Marked(marker="x")
            )


async def test_periodic_jobs_are_enqueued_once_per_interval(jobs: Jobs) -> None:
    schedule = Schedule({"test.tick": 0.2})
    before = RUNS["tick"]

    await enqueue_due(schedule, jobs.database, jobs.queue)
    assert RUNS["tick"] == before  # not at start: one interval after it
    await asyncio.sleep(0.25)
    await enqueue_due(schedule, jobs.database, jobs.queue)
    await enqueue_due(schedule, jobs.database, jobs.queue)
    await jobs.queue.drain(5)

    assert RUNS["tick"] == before + 1


def test_every_periodic_job_of_the_app_needs_no_payload() -> None:
    import storefront.tasks  # noqa: F401

    assert PERIODIC, "the app schedules jobs (idempotency records are purged hourly)"
    for name in PERIODIC:
        get_spec(name).payload_model()


async def test_an_inline_job_is_bounded_by_its_own_timeout_not_the_send_one(
    job_settings: Settings, job_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storefront.jobs.queue.DISPATCH_TIMEOUT_SECONDS", 0.05)
    inline = Jobs(job_settings.model_copy(update={"jobs_inline": True}), job_database)
    await inline.start(sweep=False)
    try:
        job_id = await enqueue(inline, "test.slow", Slow(seconds=0.3))
    finally:
        await inline.aclose(drain_timeout=1)

    job = await load_job(job_database, job_id)
    assert job.status == JobStatus.SUCCEEDED
