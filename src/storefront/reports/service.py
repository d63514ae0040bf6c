"""Reports: recorded as queued with their build job in one transaction, read back with the
job's verdict, downloaded once built."""

import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.errors import NotFound
from storefront.core.storage import LocalStorage
from storefront.jobs import service as jobs_service
from storefront.jobs.models import Job
from storefront.jobs.queue import JobQueue
from storefront.kit.pagination import PageParams, PageResult, fetch_page
from storefront.reports import repository
from storefront.reports.errors import ReportFileMissing, ReportNotFound, ReportNotReady
from storefront.reports.models import Report, ReportFormat, ReportStatus
from storefront.reports.payloads import BUILD_REPORT, BuildReport
from storefront.reports.schemas import ReportCreate
from storefront.reports.state import IN_FLIGHT, ReportState, state_of

MEDIA_TYPES = {ReportFormat.CSV: "text/csv; charset=utf-8", ReportFormat.PDF: "application/pdf"}


@dataclass(frozen=True, slots=True)
class ReportFile:
    path: Path
    filename: str
    media_type: str


async def create(
    session: AsyncSession, *, requested_by: int, data: ReportCreate, queue: JobQueue
) -> ReportState:
    report = Report(
        kind=data.kind,
        format=data.format,
        date_from=data.date_from,
        date_to=data.date_to,
        status=ReportStatus.QUEUED,
        requested_by_id=requested_by,
        attempts=0,
    )
    session.add(report)
    await session.flush()
    job = await jobs_service.enqueue(
        session, queue=queue, name=BUILD_REPORT, payload=BuildReport(report_id=report.id)
    )
    report.job_id = job.id
    await session.flush()
    return state_of(report, None)


async def get(session: AsyncSession, report_id: uuid.UUID) -> ReportState:
    report = await repository.get(session, report_id)
    if report is None:
        raise ReportNotFound()
    return state_of(report, await _job_of(session, report))


async def list_reports(session: AsyncSession, *, params: PageParams) -> PageResult[ReportState]:
    page = await fetch_page(session, repository.listed(), params)
    # Only reports still in flight look at their job: a page holds few of them.
    states = [state_of(report, await _job_of(session, report)) for report in page.rows]
    return PageResult(rows=states, total=page.total, params=params)


async def open_file(state: ReportState, *, storage: LocalStorage) -> ReportFile:
    """The built file of a succeeded report."""
    report = state.report
    if state.status != ReportStatus.SUCCEEDED or report.storage_key is None:
        raise ReportNotReady(f"The report is {state.status}; it can be downloaded once built.")
    if not await storage.exists(report.storage_key):
        raise ReportFileMissing()
    return ReportFile(
        path=storage.path(report.storage_key),
        filename=download_name(report),
        media_type=MEDIA_TYPES[report.format],
    )


def download_name(report: Report) -> str:
    """Generated from the report alone: nothing a client typed reaches the header."""
    return f"{report.kind}-{report.created_at.date().isoformat()}.{report.format}"


async def _job_of(session: AsyncSession, report: Report) -> Job | None:
    if report.job_id is None or report.status not in IN_FLIGHT:
        return None
    try:
        return await jobs_service.get(session, report.job_id)
    except NotFound:
        return None
