"""SQL over reports. A build's state changes are conditional on the attempt that makes
them, so a runner whose lease was taken over can no longer change the report."""

import uuid

from sqlalchemy import Select, Update, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.kit.models import utc_now
from storefront.reports.models import Report, ReportStatus
from storefront.reports.state import IN_FLIGHT


async def get(session: AsyncSession, report_id: uuid.UUID) -> Report | None:
    return await session.get(Report, report_id, populate_existing=True)


def listed() -> Select[Report]:
    return select(Report).order_by(Report.created_at.desc(), Report.id)


async def start(session: AsyncSession, report_id: uuid.UUID, *, attempt: int) -> Report | None:
    """Mark the report running for `attempt`, unless it already succeeded or failed."""
    now = utc_now()
    result = await session.execute(
        update(Report)
        .where(Report.id == report_id, Report.status.in_(IN_FLIGHT))
        .values(status=ReportStatus.RUNNING, attempts=attempt, started_at=now, updated_at=now)
        .returning(Report)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def succeed(
    session: AsyncSession,
    report_id: uuid.UUID,
    *,
    attempt: int,
    storage_key: str,
    size: int,
    sha256: str,
    row_count: int,
) -> bool:
    now = utc_now()
    result = await session.execute(
        _by_attempt(report_id, attempt).values(
            status=ReportStatus.SUCCEEDED,
            storage_key=storage_key,
            size=size,
            sha256=sha256,
            row_count=row_count,
            error=None,
            finished_at=now,
            updated_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_failure(
    session: AsyncSession,
    report_id: uuid.UUID,
    *,
    attempt: int,
    error: str,
    final: bool,
    job_id: uuid.UUID | None = None,
) -> bool:
    """A failed attempt: the report fails for good, or waits queued for its retry (by
    `job_id`, when a new job takes over the build). False if a newer attempt owns it."""
    now = utc_now()
    values: dict[str, object] = {
        "status": ReportStatus.FAILED if final else ReportStatus.QUEUED,
        "error": error,
        "finished_at": now if final else None,
        "updated_at": now,
    }
    if job_id is not None:
        values["job_id"] = job_id
    result = await session.execute(_by_attempt(report_id, attempt).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _by_attempt(report_id: uuid.UUID, attempt: int) -> Update:
    return (
        update(Report)
        .where(
            Report.id == report_id,
            Report.status == ReportStatus.RUNNING,
            Report.attempts == attempt,
        )
        .execution_options(synchronize_session=False)
    )
