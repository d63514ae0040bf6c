"""A report's status as users see it: its own row, corrected by its job's when the job
gave up without the handler being able to say so (a timeout, or workers that kept dying
mid-build never reach the report's failure path)."""

from dataclasses import dataclass

from storefront.jobs.models import Job, JobStatus
from storefront.reports.models import Report, ReportStatus

IN_FLIGHT = (ReportStatus.QUEUED, ReportStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class ReportState:
    report: Report
    status: ReportStatus
    attempts: int
    error: str | None


def state_of(report: Report, job: Job | None) -> ReportState:
    if job is None or report.status not in IN_FLIGHT:
        return ReportState(report, report.status, report.attempts, report.error)
    attempts = max(report.attempts, job.attempts)
    if job.status == JobStatus.FAILED:
        # The job's error text may carry driver messages: only its exception type shows.
        reason = (job.error or "worker lost").split(":", 1)[0]
        return ReportState(
            report, ReportStatus.FAILED, attempts, f"The report could not be built ({reason})."
        )
    return ReportState(report, report.status, attempts, report.error)
