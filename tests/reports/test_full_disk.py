"""Report builds on a real full disk (a 1 MiB tmpfs): a transient failure, retried until
space returns, never a report failed for good while the disk is only full, never a file
left behind."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.jobs.models import JobStatus
from storefront.jobs.runtime import Jobs
from storefront.jobs.sweep import sweep_once
from storefront.kit.models import utc_now
from storefront.reports import failures
from storefront.reports.models import Report, ReportStatus
from storefront.users.models import User
from tests.fixtures.jobs import load_job, wait_for_job
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.storage import files_under
from tests.fixtures.tmpfs import fill, tmpfs
from tests.reports.helpers import (
    create_report,
    mails_to,
    read_report,
    requester,
    wait_for_mails,
    wait_for_report,
)

__all__ = ["requester"]

pytestmark = pytest.mark.anyio

FULL = "the storage is full"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """The storage lives in `files/` of a 1 MiB filesystem; the filler sits next to it."""
    with tmpfs(tmp_path / "disk", size_bytes=1 << 20) as disk:
        yield disk


@pytest.fixture
def settings(settings: Settings, disk: Path) -> Settings:
    return settings.model_copy(update={"storage_dir": disk / "files"})


async def wait_for_error(database: Database, report_id: uuid.UUID, error: str) -> Report:
    async with asyncio.timeout(15):
        while (report := await read_report(database, report_id)).error != error:
            await asyncio.sleep(0.02)
    return report


class TestRetriedWhileTheDiskIsFull:
    @pytest.fixture
    def job_settings(self, job_settings: Settings) -> Settings:
        """Retries slow enough to free the space before they run out."""
        return job_settings.model_copy(
            update={
                "job_retry_base_seconds": 0.5,
                "job_retry_max_seconds": 4.0,
                "job_max_attempts": 5,
            }
        )

    async def test_a_build_on_a_full_disk_is_retried_and_succeeds_once_space_returns(
        self,
        jobs: Jobs,
        requester: User,
        disk: Path,
        job_settings: Settings,
        smtp_server: SmtpServer,
    ) -> None:
        filler = fill(disk)
        report_id = await create_report(jobs.database, jobs.queue, requester)

        failed = await wait_for_error(jobs.database, report_id, f"Attempt 1 of 5 failed ({FULL}).")

        assert failed.status in (ReportStatus.QUEUED, ReportStatus.RUNNING)
        job = await load_job(jobs.database, failed.job_id)
        assert job.status != JobStatus.FAILED
        assert (job.error or "").startswith("StorageFull")
        assert files_under(job_settings.storage_dir) == set()  # no partial file either

        filler.unlink()
        report = await wait_for_report(jobs.database, report_id)

        assert report.status == ReportStatus.SUCCEEDED, report.error
        assert report.attempts >= 2
        assert report.error is None
        assert files_under(job_settings.storage_dir) == {report.storage_key}
        await wait_for_mails(smtp_server, requester.email)
        assert mails_to(smtp_server, requester.email) == ["Your sales report is ready"]


async def test_a_disk_full_for_longer_than_the_retries_queues_a_new_build_for_later(
    jobs: Jobs, requester: User, disk: Path, job_settings: Settings
) -> None:
    filler = fill(disk)
    report_id = await create_report(jobs.database, jobs.queue, requester)
    first_job_id = (await read_report(jobs.database, report_id)).job_id

    waiting = await wait_for_error(
        jobs.database,
        report_id,
        f"Attempt 3 of 3 failed ({FULL}); the build is tried again later.",
    )

    assert waiting.status == ReportStatus.QUEUED
    assert waiting.job_id != first_job_id
    gave_up = await wait_for_job(jobs.database, first_job_id, JobStatus.FAILED, timeout=15)
    assert gave_up.attempts == 3
    successor = await load_job(jobs.database, waiting.job_id)
    assert (successor.status, successor.attempts) == (JobStatus.QUEUED, 0)
    assert successor.run_after > utc_now() - timedelta(seconds=1)
    assert files_under(job_settings.storage_dir) == set()

    filler.unlink()
    # The sweep sends the new build once it is due (every worker sweeps on its own).
    await asyncio.sleep(job_settings.job_retry_max_seconds * 1.5)
    assert await sweep_once(job_settings, jobs.database, jobs.queue) >= 1
    report = await wait_for_report(jobs.database, report_id)

    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert report.job_id == successor.id
    assert files_under(job_settings.storage_dir) == {report.storage_key}


async def test_a_report_still_unbuilt_after_the_wait_limit_fails_for_good(
    jobs: Jobs,
    requester: User,
    disk: Path,
    job_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failures, "STORAGE_WAIT_LIMIT", timedelta(0))
    fill(disk)
    report_id = await create_report(jobs.database, jobs.queue, requester)

    report = await wait_for_report(jobs.database, report_id)

    assert report.status == ReportStatus.FAILED
    assert report.error == f"The report could not be built ({FULL})."
    assert (await load_job(jobs.database, report.job_id)).status == JobStatus.FAILED
    assert files_under(job_settings.storage_dir) == set()
