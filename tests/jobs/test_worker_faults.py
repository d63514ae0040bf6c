"""`storefront worker` processes under real faults, each on a redis-server of the test's
own: Redis killed (SIGKILL) and started again empty, and a worker killed in the middle of
long jobs. Jobs are asserted on their rows: each one succeeded, after exactly the
attempts it should have taken."""

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterable

import httpx
import pytest
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import select

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs import service
from storefront.jobs.lease import lease_for
from storefront.jobs.models import Job, JobStatus
from storefront.jobs.queue import CONSUMER_GROUP, DISPATCH_TIMEOUT_SECONDS, STREAM
from storefront.jobs.runtime import Jobs
from storefront.jobs.stream import RECONNECT_CAP_SECONDS
from storefront.kit.models import utc_now
from storefront.mail.tasks import SEND_MAIL
from tests.fixtures.identity import PASSWORD
from tests.fixtures.servers import StartServers, admin_email, start_servers, wait_until_live
from tests.fixtures.throwaway_redis import ThrowawayRedis, throwaway_redis
from tests.fixtures.workers import StartWorker, Worker, start_worker_process
from tests.jobs.sample_tasks import Hold, Marked, Slow

__all__ = ["admin_email", "start_servers", "start_worker_process", "throwaway_redis"]

pytestmark = pytest.mark.anyio

FAST_SWEEP = {"JOB_SWEEP_INTERVAL_SECONDS": "0.5", "JOB_REDISPATCH_AFTER_SECONDS": "1"}


@pytest.fixture
async def api_jobs(
    job_settings: Settings, job_database: Database, throwaway_redis: ThrowawayRedis
) -> AsyncIterator[Jobs]:
    """The sending side, as in an API process, on the throwaway Redis."""
    jobs = Jobs(job_settings.model_copy(update={"redis_url": throwaway_redis.url}), job_database)
    assert not jobs.runs_in_process
    await jobs.start(sweep=False)
    yield jobs
    await jobs.aclose(drain_timeout=1)


async def enqueue(jobs: Jobs, name: str, payload: BaseModel) -> uuid.UUID:
    async with unit_of_work(jobs.database.sessionmaker) as session:
        job = await service.enqueue(session, queue=jobs.queue, name=name, payload=payload)
    return job.id


async def enqueue_records(jobs: Jobs, count: int) -> list[uuid.UUID]:
    return [
        await enqueue(jobs, "test.record", Marked(marker=uuid.uuid4().hex)) for _ in range(count)
    ]


async def load(database: Database, job_ids: Iterable[uuid.UUID]) -> list[Job]:
    async with database.sessionmaker() as session:
        return list(await session.scalars(select(Job).where(Job.id.in_(list(job_ids)))))


async def wait_until(
    database: Database, job_ids: Iterable[uuid.UUID], status: JobStatus, *, timeout: float
) -> list[Job]:
    wanted = set(job_ids)
    async with asyncio.timeout(timeout):
        while True:
            jobs = await load(database, wanted)
            if len(jobs) == len(wanted) and all(job.status == status for job in jobs):
                return jobs
            await asyncio.sleep(0.1)


def assert_alive_without_tracebacks(worker: Worker) -> list[dict[str, object]]:
    assert worker.process.poll() is None, worker.log_text()[-3000:]
    text = worker.log_text()
    assert "Traceback" not in text, text[-3000:]
    events = worker.log_events()
    assert not [event for event in events if "exception" in event]
    return events


async def test_a_worker_outlives_redis_outages_and_runs_every_job_once(
    api_jobs: Jobs,
    throwaway_redis: ThrowawayRedis,
    start_worker_process: StartWorker,
) -> None:
    worker = start_worker_process(throwaway_redis.url, WORKER_CONCURRENCY="2", **FAST_SWEEP)
    database = api_jobs.database
    await wait_until(database, await enqueue_records(api_jobs, 1), JobStatus.SUCCEEDED, timeout=30)

    # Before: two slow jobs fill the worker, so four more wait in the stream behind them.
    slow = [await enqueue(api_jobs, "test.slow", Slow(seconds=2.0)) for _ in range(2)]
    await wait_until(database, slow, JobStatus.RUNNING, timeout=10)
    before = await enqueue_records(api_jobs, 4)

    throwaway_redis.kill()
    # During: the rows commit, the sends fail fast, and the sweep sends them later.
    started = time.monotonic()
    during = await enqueue_records(api_jobs, 4)
    assert time.monotonic() - started < DISPATCH_TIMEOUT_SECONDS
    # The slow jobs end while Redis is away: their outcome is recorded, their ack is lost.
    await wait_until(database, slow, JobStatus.SUCCEEDED, timeout=10)
    throwaway_redis.start()
    after = await enqueue_records(api_jobs, 4)
    await wait_until(database, [*before, *during, *after], JobStatus.SUCCEEDED, timeout=30)

    # Longer than the worker's reconnection back-off at its cap.
    throwaway_redis.kill()
    during_long = await enqueue_records(api_jobs, 2)
    await asyncio.sleep(RECONNECT_CAP_SECONDS + 2)
    throwaway_redis.start()
    after_long = await enqueue_records(api_jobs, 2)
    every = [*slow, *before, *during, *after, *during_long, *after_long]
    jobs = await wait_until(database, every, JobStatus.SUCCEEDED, timeout=30)

    assert [job.attempts for job in jobs] == [1] * len(every)
    events = assert_alive_without_tracebacks(worker)
    outage_warnings = [e for e in events if str(e["event"]).startswith("job stream unreachable")]
    assert len(outage_warnings) >= 2
    assert all(event["level"] == "warning" for event in outage_warnings)
    assert len([e for e in events if e["event"] == "job stream reconnected"]) >= 2
    # And it still drains and stops cleanly when asked.
    worker.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.process.wait, 15) == 0


async def test_a_sign_up_while_redis_is_down_succeeds_and_its_mail_is_sent_later(
    job_database: Database,
    throwaway_redis: ThrowawayRedis,
    start_worker_process: StartWorker,
    start_servers: StartServers,
) -> None:
    [base_url] = start_servers(1, shared_redis=False, REDIS_URL=throwaway_redis.url)
    await wait_until_live(base_url)

    throwaway_redis.kill()
    # A worker that starts while Redis is down waits for it.
    worker = start_worker_process(throwaway_redis.url, **FAST_SWEEP)
    email = f"outage-{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "Outage"}
        )
    assert response.status_code == 201, response.text
    assert response.elapsed.total_seconds() < DISPATCH_TIMEOUT_SECONDS
    async with asyncio.timeout(30):
        while '"job stream unreachable' not in worker.log_text():
            await asyncio.sleep(0.1)
    throwaway_redis.start()

    async with job_database.sessionmaker() as session:
        mails = await session.scalars(select(Job).where(Job.name == SEND_MAIL))
        [welcome] = [job.id for job in mails if job.payload.get("to") == email]
    [job] = await wait_until(job_database, [welcome], JobStatus.SUCCEEDED, timeout=30)
    assert job.attempts == 1
    assert_alive_without_tracebacks(worker)


async def consumers(redis: Redis) -> dict[str, int]:
    """Each consumer of the group (one per worker process) → messages it holds."""
    rows = await redis.xinfo_consumers(STREAM, CONSUMER_GROUP)
    return {row["name"].decode(): int(row["pending"]) for row in rows}


async def wait_until_listening(*workers: Worker) -> None:
    async with asyncio.timeout(30):
        while not all('"Listening started."' in worker.log_text() for worker in workers):
            await asyncio.sleep(0.1)


async def test_workers_share_the_jobs_and_a_dead_workers_jobs_rerun_within_30_s(
    api_jobs: Jobs, throwaway_redis: ThrowawayRedis, start_worker_process: StartWorker
) -> None:
    # A long job timeout, and the sweep at its defaults (30 s, 120 s): what brings the
    # jobs back is the stream, not a sweep or a timeout.
    settings = {"WORKER_CONCURRENCY": "2", "JOB_TIMEOUT_SECONDS": "300"}
    # All in the stream before any worker reads: the first to read could take them all.
    holds = [await enqueue(api_jobs, "test.hold", Hold(first_attempt_seconds=8)) for _ in "abcd"]
    waiting = await enqueue_records(api_jobs, 2)
    doomed, survivor = (start_worker_process(throwaway_redis.url, **settings) for _ in "ab")

    await wait_until(api_jobs.database, holds, JobStatus.RUNNING, timeout=30)
    # Two each: neither took more than it can run, and the rest waits in the stream.
    async with Redis.from_url(throwaway_redis.url) as redis:
        assert sorted((await consumers(redis)).values()) == [2, 2]
    assert {(job.status, job.attempts) for job in await load(api_jobs.database, waiting)} == {
        (JobStatus.QUEUED, 0)
    }

    doomed.process.send_signal(signal.SIGKILL)
    killed_at = utc_now()
    await asyncio.to_thread(doomed.process.wait, 10)
    every = [*holds, *waiting]
    jobs = await wait_until(api_jobs.database, every, JobStatus.SUCCEEDED, timeout=45)

    rerun = [job for job in jobs if job.attempts == 2]
    assert sorted(job.attempts for job in jobs) == [1, 1, 1, 1, 2, 2]
    assert {job.id for job in rerun} <= set(holds)
    delays = [(job.started_at - killed_at).total_seconds() for job in rerun if job.started_at]
    assert len(delays) == 2
    # The lease (15 s) and one renewal, then at most a claim interval and a blocked read.
    assert max(delays) < 30, delays
    events = assert_alive_without_tracebacks(survivor)
    assert len([e for e in events if e["event"] == "job message of a lost worker claimed"]) == 2


async def test_a_job_that_outlasts_its_lease_stays_with_its_live_worker(
    api_jobs: Jobs, throwaway_redis: ThrowawayRedis, start_worker_process: StartWorker
) -> None:
    # JOB_TIMEOUT_SECONDS=1: leases of 2 s, renewed every 0.7 s; the job's own timeout is 60 s.
    # Unrenewed, its lease would expire (and the sweep send it) and its message look
    # abandoned to the idle worker long before it ends.
    settings = {"WORKER_CONCURRENCY": "1", "JOB_TIMEOUT_SECONDS": "1", **FAST_SWEEP}
    lease = lease_for(api_jobs.settings.model_copy(update={"job_timeout_seconds": 1.0}))
    busy, idle = (start_worker_process(throwaway_redis.url, **settings) for _ in "ab")
    await wait_until_listening(busy, idle)

    job_id = await enqueue(api_jobs, "test.long", Slow(seconds=2 * lease.abandoned_after))
    [job] = await wait_until(api_jobs.database, [job_id], JobStatus.SUCCEEDED, timeout=30)

    assert job.attempts == 1
    for worker in (busy, idle):
        events = assert_alive_without_tracebacks(worker)
        assert not [e for e in events if e["event"] == "job message of a lost worker claimed"]
        assert not [e for e in events if e["event"] == "job lease lost"]
