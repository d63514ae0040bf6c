from storefront.jobs.registry import JobContext, job
from storefront.reports import build
from storefront.reports.payloads import BUILD_REPORT, BuildReport


# The default timeout (JOB_TIMEOUT_SECONDS) bounds a build, and it is also the lease: a
# build whose worker died is taken up again only after it. See build.py.
@job(BUILD_REPORT, BuildReport)
async def build_report(context: JobContext, payload: BuildReport) -> None:
    await build.run(context, payload.report_id)
