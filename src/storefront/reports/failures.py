"""A failed build attempt, as its report shows it: retried, failed for good, or, when the
storage is full, waiting for space.

A full disk is a transient failure that outlasts a job's retries: an operator has to free
space. So the attempt that finds it with no retries left queues a fresh build job for
later instead of failing the report, until the report is `STORAGE_WAIT_LIMIT` old.
"""

import logging
from datetime import timedelta

from storefront.core.db import unit_of_work
from storefront.core.storage import StorageFull
from storefront.jobs import service as jobs_service
from storefront.jobs.registry import JobContext, PermanentJobError
from storefront.kit.models import utc_now
from storefront.reports import repository
from storefront.reports.models import Report
from storefront.reports.payloads import BUILD_REPORT, BuildReport

STORAGE_WAIT_LIMIT = timedelta(hours=24)
STORAGE_FULL_REASON = "the storage is full"

logger = logging.getLogger("storefront.reports")


class _Overtaken(Exception):
    """A newer attempt owns the report: this one records nothing."""


def _reason(error: Exception) -> str:
    # Admins read this: an exception's own text may carry SQL or paths, its type does not.
    if isinstance(error, PermanentJobError):
        return str(error)
    if isinstance(error, StorageFull):
        return STORAGE_FULL_REASON
    return type(error).__name__


def waits_for_storage(context: JobContext, report: Report, error: Exception) -> bool:
    return (
        isinstance(error, StorageFull)
        and context.is_last_attempt
        and utc_now() - report.created_at < STORAGE_WAIT_LIMIT
    )


async def record_failure(context: JobContext, report: Report, error: Exception) -> None:
    reason = _reason(error)
    waiting = waits_for_storage(context, report, error)
    final = not waiting and (context.is_last_attempt or isinstance(error, PermanentJobError))
    attempt = f"Attempt {context.attempt} of {context.max_attempts} failed ({reason})"
    if final:
        message = f"The report could not be built ({reason})."
    elif waiting:
        message = f"{attempt}; the build is tried again later."
    else:
        message = f"{attempt}."
    try:
        async with unit_of_work(context.database.sessionmaker) as session:
            job_id = None
            if waiting:
                later = utc_now() + timedelta(seconds=context.settings.job_retry_max_seconds)
                payload = BuildReport(report_id=report.id)
                successor = await jobs_service.enqueue(
                    session,
                    queue=context.queue,
                    name=BUILD_REPORT,
                    payload=payload,
                    run_after=later,
                )
                job_id = successor.id
            recorded = await repository.record_failure(
                session,
                report.id,
                attempt=context.attempt,
                error=message,
                final=final,
                job_id=job_id,
            )
            if not recorded:
                raise _Overtaken()  # and no successor is queued either
    except _Overtaken:
        logger.info("a stale attempt's failure is ignored", extra={"report_id": str(report.id)})
    except Exception:
        # The job row still records the failure, and the report shows it from there.
        logger.warning("could not record a report failure", exc_info=True)
    else:
        if waiting:
            logger.warning("report waits for storage space", extra={"report_id": str(report.id)})
