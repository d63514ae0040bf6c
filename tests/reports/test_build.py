"""The build job as a worker runs it (real commits, sent after commit, fast retries): a
failed attempt is retried, a build that keeps failing is marked failed, and a report is
produced once however many times its job runs."""

import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs.models import Job, JobStatus
from storefront.jobs.registry import JobContext
from storefront.jobs.runtime import Jobs
from storefront.mail.tasks import SEND_MAIL
from storefront.orders import service as orders_service
from storefront.orders.schemas import Sale
from storefront.reports import build
from storefront.reports.models import Report, ReportStatus
from storefront.users.models import User
from tests.fixtures.smtp import SmtpServer
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

REAL_SALES_BATCH = orders_service.sales_batch


def failing_batches(
    monkeypatch: pytest.MonkeyPatch, *, failures: int, on_retry: Any = None
) -> Counter[str]:
    calls: Counter[str] = Counter()

    async def sales_batch(session: AsyncSession, **query: Any) -> list[Sale]:
        calls["batches"] += 1
        if calls["batches"] <= failures:
            raise ConnectionError("server closed the connection unexpectedly")
        if on_retry is not None:
            await on_retry()
        return await REAL_SALES_BATCH(session, **query)

    monkeypatch.setattr(orders_service, "sales_batch", sales_batch)
    return calls


async def test_a_failed_attempt_is_retried_and_the_report_built_once(
    jobs: Jobs,
    requester: User,
    job_settings: Settings,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen_on_retry: list[tuple[ReportStatus, str | None]] = []

    async def look() -> None:
        if not seen_on_retry:
            report = await read_report(jobs.database, report_id)
            seen_on_retry.append((report.status, report.error))

    failing_batches(monkeypatch, failures=1, on_retry=look)
    report_id = await create_report(jobs.database, jobs.queue, requester)

    report = await wait_for_report(jobs.database, report_id)

    assert seen_on_retry == [(ReportStatus.RUNNING, "Attempt 1 of 3 failed (ConnectionError).")]
    assert report.status == ReportStatus.SUCCEEDED
    assert report.attempts == 2
    assert report.error is None
    assert [
        path.relative_to(job_settings.storage_dir).as_posix()
        for path in stored_objects(job_settings.storage_dir)
    ] == [report.storage_key]
    await wait_for_mails(smtp_server, requester.email)
    assert mails_to(smtp_server, requester.email) == ["Your sales report is ready"]


async def test_a_build_that_keeps_failing_is_marked_failed(
    jobs: Jobs,
    requester: User,
    job_settings: Settings,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing_batches(monkeypatch, failures=100)
    report_id = await create_report(jobs.database, jobs.queue, requester)

    report = await wait_for_report(jobs.database, report_id)

    assert report.status == ReportStatus.FAILED
    assert report.attempts == 3
    assert report.error == "The report could not be built (ConnectionError)."
    assert report.storage_key is None
    async with jobs.database.sessionmaker() as session:
        job = await session.get(Job, report.job_id)
    assert job is not None and job.status == JobStatus.FAILED and job.attempts == 3
    assert stored_objects(job_settings.storage_dir) == []
    assert mails_to(smtp_server, requester.email) == []


def context_for(jobs: Jobs, *, attempt: int) -> JobContext:
    return JobContext(
        settings=jobs.settings,
        database=jobs.database,
        queue=jobs.queue,
        job_id=str(uuid.uuid4()),
        attempt=attempt,
        max_attempts=3,
    )


async def mail_jobs_to(database: Database, address: str) -> int:
    async with database.sessionmaker() as session:
        jobs = (await session.scalars(select(Job).where(Job.name == SEND_MAIL))).all()
    return sum(1 for job in jobs if job.payload.get("to") == address)


async def test_running_a_built_report_again_changes_nothing(
    jobs: Jobs, requester: User, job_settings: Settings
) -> None:
    report_id = await create_report(jobs.database, jobs.queue, requester)
    built = await wait_for_report(jobs.database, report_id)
    assert built.status == ReportStatus.SUCCEEDED

    await build.run(context_for(jobs, attempt=2), report_id)

    again = await read_report(jobs.database, report_id)
    assert (again.status, again.storage_key, again.attempts) == (
        ReportStatus.SUCCEEDED,
        built.storage_key,
        1,
    )
    assert len(stored_objects(job_settings.storage_dir)) == 1
    assert await mail_jobs_to(jobs.database, requester.email) == 1


async def test_an_attempt_overtaken_by_a_newer_one_keeps_nothing(
    jobs: Jobs, requester: User, job_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its lease expired mid-build and attempt 2 took the report over: attempt 1's file
    must not become the report, nor stay behind."""
    report_id = await create_report(jobs.database, jobs.queue, requester)
    await wait_for_report(jobs.database, report_id)
    for path in stored_objects(job_settings.storage_dir):
        path.unlink()
    async with unit_of_work(jobs.database.sessionmaker) as session:
        await session.execute(
            update(Report)
            .where(Report.id == report_id)
            .values(status=ReportStatus.QUEUED, storage_key=None, attempts=0)
        )

    async def overtake() -> None:
        async with unit_of_work(jobs.database.sessionmaker) as session:
            await session.execute(update(Report).where(Report.id == report_id).values(attempts=2))

    failing_batches(monkeypatch, failures=0, on_retry=overtake)
    await build.run(context_for(jobs, attempt=1), report_id)

    report = await read_report(jobs.database, report_id)
    assert (report.status, report.attempts, report.storage_key) == (
        ReportStatus.RUNNING,
        2,
        None,
    )
    assert stored_objects(job_settings.storage_dir) == []
    assert await mail_jobs_to(jobs.database, requester.email) == 1
