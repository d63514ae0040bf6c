"""Committed reports outside a request: an admin of their own, polling, stored objects."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from storefront.core.config import Settings
from storefront.core.db import Database, unit_of_work
from storefront.jobs.queue import JobQueue
from storefront.reports import service
from storefront.reports.models import Report, ReportFormat, ReportKind, ReportStatus
from storefront.reports.schemas import ReportCreate
from storefront.users.bootstrap import create_admin
from storefront.users.models import User
from tests.fixtures.identity import PASSWORD
from tests.fixtures.smtp import SmtpServer

FINISHED = (ReportStatus.SUCCEEDED, ReportStatus.FAILED)


@pytest.fixture
async def requester(job_database: Database, job_settings: Settings) -> AsyncIterator[User]:
    """A committed admin; their reports and they go afterwards."""
    email = f"report-admin-{uuid.uuid4().hex[:12]}@example.com"
    user = await create_admin(
        job_database, job_settings, email=email, password=PASSWORD, full_name="Ada"
    )
    yield user
    async with unit_of_work(job_database.sessionmaker) as session:
        await session.execute(delete(Report).where(Report.requested_by_id == user.id))
        await session.execute(delete(User).where(User.id == user.id))


async def create_report(
    database: Database,
    queue: JobQueue,
    requester: User,
    *,
    format: ReportFormat = ReportFormat.CSV,
    **dates: object,
) -> uuid.UUID:
    data = ReportCreate.model_validate({"kind": ReportKind.SALES, "format": format, **dates})
    async with unit_of_work(database.sessionmaker) as session:
        state = await service.create(session, requested_by=requester.id, data=data, queue=queue)
    return state.report.id


async def read_report(database: Database, report_id: uuid.UUID) -> Report:
    async with database.sessionmaker() as session:
        report = await session.get(Report, report_id)
    assert report is not None
    return report


async def wait_for_report(
    database: Database,
    report_id: uuid.UUID,
    statuses: tuple[ReportStatus, ...] = FINISHED,
    *,
    timeout: float = 30,
) -> Report:
    async with asyncio.timeout(timeout):
        while True:
            report = await read_report(database, report_id)
            if report.status in statuses:
                return report
            await asyncio.sleep(0.05)


async def wait_for_mails(smtp_server: SmtpServer, to: str, *, count: int = 1) -> None:
    async with asyncio.timeout(15):
        while len(mails_to(smtp_server, to)) < count:
            await asyncio.sleep(0.05)


def mails_to(smtp_server: SmtpServer, to: str) -> list[str]:
    return [str(mail.message["Subject"]) for mail in smtp_server.received if to in mail.rcpt_tos]


def stored_objects(storage_dir: Path) -> list[Path]:
    """Finished objects: not the storage's own in-progress files."""
    return [
        path
        for path in storage_dir.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(storage_dir).parts)
    ]
