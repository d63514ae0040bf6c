"""A worker killed with SIGKILL in the middle of a report: another worker builds it again
once the lease has expired, and the report comes out once (one stored file, one mail)."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs.models import JobStatus
from storefront.jobs.runtime import Jobs
from storefront.orders.models import Order
from storefront.reports.models import ReportStatus
from storefront.users.models import User
from tests.fixtures.backends import require_redis, unreachable
from tests.fixtures.jobs import wait_for_job
from tests.fixtures.smtp import SmtpServer
from tests.reports.factories import insert_orders
from tests.reports.helpers import (
    create_report,
    mails_to,
    read_report,
    requester,
    stored_objects,
    wait_for_mails,
    wait_for_report,
)

__all__ = ["requester"]

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
WORKER = "import tests.reports.slow_build; from storefront.cli import app; app(['worker'])"
ORDERS = 200  # ten slow batches: about 1.5 s of building
DAY = date(2003, 7, 8)
JOB_TIMEOUT_SECONDS = 3.0

StartWorker = Callable[[], "subprocess.Popen[bytes]"]


@pytest.fixture
async def stream_settings(job_settings: Settings) -> Settings:
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        unreachable("REDIS_URL is needed to run reports in worker processes")
    await require_redis(redis_url)
    return job_settings.model_copy(
        update={"redis_url": redis_url, "job_timeout_seconds": JOB_TIMEOUT_SECONDS}
    )


@pytest.fixture
async def api_jobs(stream_settings: Settings, job_database: Database) -> AsyncIterator[Jobs]:
    """The sending side, as in an API process."""
    jobs = Jobs(stream_settings, job_database)
    assert not jobs.runs_in_process
    await jobs.start(sweep=False)
    yield jobs
    await jobs.aclose(drain_timeout=1)


@pytest.fixture
async def orders(job_database: Database, requester: User) -> AsyncIterator[None]:
    async with job_database.engine.begin() as connection:
        await insert_orders(connection, user_id=requester.id, count=ORDERS, day=DAY)
    yield
    async with unit_of_work(job_database.sessionmaker) as session:
        await session.execute(delete(Order).where(Order.user_id == requester.id))


@pytest.fixture
def start_worker(stream_settings: Settings, smtp_server: SmtpServer) -> Iterator[StartWorker]:
    started: list[subprocess.Popen[bytes]] = []
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": stream_settings.database_url,
        "REDIS_URL": stream_settings.redis_url,
        "STORAGE_DIR": str(stream_settings.storage_dir),
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT_SECONDS),
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

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def test_a_report_whose_worker_is_killed_is_built_once_by_another(
    api_jobs: Jobs,
    requester: User,
    orders: None,
    start_worker: StartWorker,
    stream_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    doomed = start_worker()
    report_id = await create_report(
        api_jobs.database, api_jobs.queue, requester, date_from=DAY, date_to=DAY
    )
    await wait_for_report(api_jobs.database, report_id, (ReportStatus.RUNNING,))
    # Started now, the rescuer cannot take the job the doomed worker holds, and its
    # start-up overlaps the lease it has to wait out.
    start_worker()
    await asyncio.sleep(0.5)
    interrupted = await read_report(api_jobs.database, report_id)
    assert (interrupted.status, interrupted.attempts) == (ReportStatus.RUNNING, 1)

    doomed.send_signal(signal.SIGKILL)
    await asyncio.to_thread(doomed.wait, 10)
    assert stored_objects(stream_settings.storage_dir) == []
    report = await wait_for_report(api_jobs.database, report_id)

    assert report.status == ReportStatus.SUCCEEDED
    assert report.attempts == 2
    assert report.row_count == ORDERS
    stored = stored_objects(stream_settings.storage_dir)
    assert [path.relative_to(stream_settings.storage_dir).as_posix() for path in stored] == [
        report.storage_key
    ]
    assert len(stored[0].read_text().splitlines()) == 1 + ORDERS + 1
    assert report.job_id is not None
    job = await wait_for_job(
        api_jobs.database, report.job_id, JobStatus.SUCCEEDED, JobStatus.FAILED, timeout=10
    )
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 2)
    await wait_for_mails(smtp_server, requester.email)
    # Any duplicate delivery of the job would have mailed again by now.
    await asyncio.sleep(1.5)
    assert mails_to(smtp_server, requester.email) == ["Your sales report is ready"]
