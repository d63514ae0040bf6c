import uuid

from pydantic import BaseModel

from storefront.jobs.registry import JobContext, job
from storefront.reports import build

BUILD_REPORT = "reports.build"


class BuildReport(BaseModel):
    report_id: uuid.UUID


# The default timeout (JOB_TIMEOUT_SECONDS) bounds a build, and it is also the lease: a
# build whose worker died is taken up again only after it. See build.py.
@job(BUILD_REPORT, BuildReport)
async def build_report(context: JobContext, payload: BuildReport) -> None:
    await build.run(context, payload.report_id)
