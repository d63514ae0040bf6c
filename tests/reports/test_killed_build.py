"""What a build SIGKILLed mid-way leaves: nothing in the system temp directory, one partial
file in the storage's `.partial/`, which the purge job removes once nobody holds it, and
a live build's partial file it never touches."""

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from storefront.core.config import Settings
from storefront.core.storage import LocalStorage
from storefront.files.tasks import ABANDONED_AFTER, NoPayload, purge_partial_uploads
from storefront.jobs.registry import JobContext
from storefront.jobs.runtime import Jobs
from storefront.reports.models import ReportStatus
from storefront.users.models import User
from tests.fixtures.backends import require_redis, unreachable
from tests.fixtures.storage import partials
from tests.reports.helpers import create_report, requester, stored_objects, wait_for_report
from tests.reports.test_worker_kill import (
    DAY,
    JOB_TIMEOUT_SECONDS,
    StartWorker,
    api_jobs,
    orders,
    start_worker,
)

__all__ = ["api_jobs", "orders", "requester", "start_worker"]

pytestmark = pytest.mark.anyio


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The workers' system temp directory (TMPDIR): one of this test's own, to look in."""
    directory = tmp_path / "system-tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    yield directory


@pytest.fixture
async def stream_settings(job_settings: Settings, system_tmp: Path) -> Settings:
    """As the kill test's, with TMPDIR set before the workers' environment is taken."""
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        unreachable("REDIS_URL is needed to run reports in worker processes")
    await require_redis(redis_url)
    return job_settings.model_copy(
        update={"redis_url": redis_url, "job_timeout_seconds": JOB_TIMEOUT_SECONDS}
    )


async def wait_for_partial(storage_dir: Path) -> Path:
    async with asyncio.timeout(10):
        while True:
            found = [path for path in partials(storage_dir) if path.stat().st_size > 0]
            if found:
                return found[0]
            await asyncio.sleep(0.02)


async def test_a_killed_build_leaves_nothing_in_tmp_and_its_partial_file_is_purged(
    api_jobs: Jobs,
    requester: User,
    orders: None,
    start_worker: StartWorker,
    stream_settings: Settings,
    system_tmp: Path,
) -> None:
    storage_dir = stream_settings.storage_dir
    storage = LocalStorage(storage_dir)
    doomed = start_worker()
    report_id = await create_report(
        api_jobs.database, api_jobs.queue, requester, date_from=DAY, date_to=DAY
    )
    await wait_for_report(api_jobs.database, report_id, (ReportStatus.RUNNING,))
    leftover = await wait_for_partial(storage_dir)

    # Alive, its writer holds the file: not even a purge with no grace period takes it.
    assert await storage.purge_partials(abandoned_after=timedelta(0), older_than=timedelta(0)) == 0
    assert partials(storage_dir) == [leftover]

    doomed.send_signal(signal.SIGKILL)
    await asyncio.to_thread(doomed.wait, 10)

    assert list(system_tmp.iterdir()) == []
    assert partials(storage_dir) == [leftover]
    assert stored_objects(storage_dir) == []
    assert (
        await wait_for_report(api_jobs.database, report_id, (ReportStatus.RUNNING,))
    ).storage_key is None

    context = JobContext(
        settings=stream_settings,
        database=api_jobs.database,
        queue=api_jobs.queue,
        job_id=str(uuid.uuid4()),
        attempt=1,
        max_attempts=1,
    )
    await purge_partial_uploads(context, NoPayload())
    assert partials(storage_dir) == [leftover]  # too young: its writer may just be starting

    long_ago = time.time() - ABANDONED_AFTER.total_seconds() - 60
    os.utime(leftover, (long_ago, long_ago))
    await purge_partial_uploads(context, NoPayload())
    assert partials(storage_dir) == []
