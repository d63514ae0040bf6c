"""One attempt at building a report: mark it running, stream its orders batch by batch
into a partial file of the storage, store it, then record it and queue the admin's mail in
one transaction.

The result is produced once: that last transaction only succeeds for the attempt that
still owns the running report, and a run that finds the report already built does
nothing. Any other copy (a runner whose lease was taken over, a commit that failed)
deletes the object it stored; a worker killed before that commit has stored nothing the
report points at, and the next attempt starts from scratch. What a killed build was
writing stays under the storage's `.partial/`, where the purge job removes it.
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.db import unit_of_work
from storefront.core.storage import LocalStorage, StoredObject, create_storage
from storefront.jobs.registry import JobContext
from storefront.kit.models import utc_now
from storefront.mail import service as mail_service
from storefront.orders import service as orders_service
from storefront.orders.schemas import Sale
from storefront.reports import failures, repository
from storefront.reports.csv_output import CsvReportWriter
from storefront.reports.models import Report, ReportFormat
from storefront.reports.sales_summary import SalesSummary
from storefront.users import service as users_service

# Orders per query: a batch is the most a build holds in memory at once.
BATCH_SIZE = 2000

logger = logging.getLogger("storefront.reports")


class ReportWriter(Protocol):
    async def add(self, sales: Sequence[Sale]) -> None: ...
    async def finish(self, summary: SalesSummary) -> None: ...
    async def aclose(self) -> None: ...


async def run(context: JobContext, report_id: uuid.UUID) -> None:
    async with unit_of_work(context.database.sessionmaker) as session:
        report = await repository.start(session, report_id, attempt=context.attempt)
    if report is None:
        logger.info("report already finished or gone", extra={"report_id": str(report_id)})
        return
    try:
        await _build_and_store(context, report, create_storage(context.settings))
    except Exception as error:
        await failures.record_failure(context, report, error)
        raise


async def _build_and_store(context: JobContext, report: Report, storage: LocalStorage) -> None:
    async with storage.partial_file(suffix=f".{report.format}") as partial:
        summary = await _write(context, report, partial.path)
        stored = await storage.store(partial)
    try:
        async with unit_of_work(context.database.sessionmaker) as session:
            recorded = await _record_success(session, context, report, stored, summary)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await storage.delete(stored.key)
        raise
    if not recorded:
        logger.warning("report built by a stale attempt", extra={"report_id": str(report.id)})
        await storage.delete(stored.key)


async def _write(context: JobContext, report: Report, path: Path) -> SalesSummary:
    writer = _writer_for(report, path)
    summary = SalesSummary()
    created_from, created_before = day_bounds(report.date_from, report.date_to)
    sessionmaker = context.database.sessionmaker
    try:
        async with unit_of_work(sessionmaker) as session:
            up_to_id = await orders_service.last_order_id(session)
        after_id = 0
        while True:
            # A session per batch: no transaction (no SQLite write lock) lasts the build.
            async with unit_of_work(sessionmaker) as session:
                batch = await orders_service.sales_batch(
                    session,
                    after_id=after_id,
                    up_to_id=up_to_id,
                    created_from=created_from,
                    created_before=created_before,
                    limit=BATCH_SIZE,
                )
            if batch:
                summary.add(batch)
                await writer.add(batch)
                after_id = batch[-1].order_id
            if len(batch) < BATCH_SIZE:
                break
        await writer.finish(summary)
    finally:
        await writer.aclose()
    return summary


async def _record_success(
    session: AsyncSession,
    context: JobContext,
    report: Report,
    stored: StoredObject,
    summary: SalesSummary,
) -> bool:
    recorded = await repository.succeed(
        session,
        report.id,
        attempt=context.attempt,
        storage_key=stored.key,
        size=stored.size,
        sha256=stored.sha256,
        row_count=summary.row_count,
    )
    if not recorded:
        return False
    requester = await users_service.get(session, report.requested_by_id)
    await mail_service.send(
        session,
        queue=context.queue,
        to=requester.email,
        template="report_ready",
        context={"report_id": str(report.id), "kind": report.kind.value},
    )
    return True


def _writer_for(report: Report, path: Path) -> ReportWriter:
    if report.format == ReportFormat.PDF:
        # Imported here: fpdf2 takes 18 MB, which an API process that never builds a PDF
        # (jobs run in workers) should not hold.
        from storefront.reports.pdf_output import Heading, PdfReportWriter

        heading = Heading(
            title=f"{report.kind.value.capitalize()} report",
            period=describe_period(report.date_from, report.date_to),
            generated_at=utc_now(),
        )
        return PdfReportWriter(path, heading)
    return CsvReportWriter(path)


def day_bounds(
    date_from: date | None, date_to: date | None
) -> tuple[datetime | None, datetime | None]:
    """Whole UTC days, `date_to` included: [start of date_from, start of the day after)."""
    start = datetime.combine(date_from, time.min, UTC) if date_from else None
    end = None
    if date_to and date_to < date.max:
        end = datetime.combine(date_to + timedelta(days=1), time.min, UTC)
    return start, end


def describe_period(date_from: date | None, date_to: date | None) -> str:
    if date_from and date_to:
        return f"{date_from.isoformat()} to {date_to.isoformat()} (UTC)"
    if date_from:
        return f"from {date_from.isoformat()} (UTC)"
    if date_to:
        return f"up to {date_to.isoformat()} (UTC)"
    return "all orders"
