"""`storefront worker` processes on the real Redis stream: jobs sent by one process run in
another, a worker killed with SIGKILL mid-job has its job run again, and SIGTERM lets the
running job finish."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs import service
from storefront.jobs.models import JobStatus
from storefront.jobs.runtime import Jobs
from tests.fixtures.backends import require_redis, unreachable
from tests.fixtures.jobs import wait_for_job
from tests.jobs.sample_tasks import Marked, Slow

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
# The worker process must know the test jobs too.
WORKER = "import tests.jobs.sample_tasks; from storefront.cli import app; app(['worker'])"


@pytest.fixture
async def stream_settings(job_settings: Settings) -> Settings:
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        unreachable("REDIS_URL is needed to run jobs across processes")
    await require_redis(redis_url)
    return job_settings.model_copy(update={"redis_url": redis_url, "job_timeout_seconds": 3.0})


@pytest.fixture
async def api_jobs(stream_settings: Settings, job_database: Database) -> AsyncIterator[Jobs]:
    """The sending side, as in an API process."""
    jobs = Jobs(stream_settings, job_database)
    assert not jobs.runs_in_process
    await jobs.start(sweep=False)
    yield jobs
    await jobs.aclose(drain_timeout=1)


@pytest.fixture
def start_worker(stream_settings: Settings) -> Iterator[type[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": stream_settings.database_url,
        "REDIS_URL": stream_settings.redis_url,
        "JOB_TIMEOUT_SECONDS": "3",
        "JOB_SWEEP_INTERVAL_SECONDS": "0.5",
        "JOB_REDISPATCH_AFTER_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER], cwd=REPO, env=environment, stdin=subprocess.DEVNULL
        )
        started.append(process)
        return process

    yield start  # type: ignore[misc]
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def enqueue(jobs: Jobs, name: str, payload: Marked | Slow) -> uuid.UUID:
    async with unit_of_work(jobs.database.sessionmaker) as session:
        job = await service.enqueue(session, queue=jobs.queue, name=name, payload=payload)
    return job.id


async def test_a_job_sent_by_the_api_runs_in_a_worker_process(
    api_jobs: Jobs, start_worker: object
) -> None:
    start_worker()  # type: ignore[operator]
    job_id = await enqueue(api_jobs, "test.record", Marked(marker=uuid.uuid4().hex))

    job = await wait_for_job(api_jobs.database, job_id, JobStatus.SUCCEEDED)

    assert job.attempts == 1


async def test_a_job_whose_worker_is_killed_runs_again_on_another(
    api_jobs: Jobs, start_worker: object
) -> None:
    doomed = start_worker()  # type: ignore[operator]
    job_id = await enqueue(api_jobs, "test.slow", Slow(seconds=2.0))
    await wait_for_job(api_jobs.database, job_id, JobStatus.RUNNING)

    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    start_worker()  # type: ignore[operator]
    job = await wait_for_job(api_jobs.database, job_id, JobStatus.SUCCEEDED)

    assert job.attempts == 2


async def test_sigterm_lets_the_running_job_finish(api_jobs: Jobs, start_worker: object) -> None:
    worker = start_worker()  # type: ignore[operator]
    job_id = await enqueue(api_jobs, "test.slow", Slow(seconds=1.5))
    await wait_for_job(api_jobs.database, job_id, JobStatus.RUNNING)

    worker.send_signal(signal.SIGTERM)
    job = await wait_for_job(api_jobs.database, job_id, JobStatus.SUCCEEDED, timeout=10)

    assert job.attempts == 1
    assert await asyncio.to_thread(worker.wait, 10) == 0
