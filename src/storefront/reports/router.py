from typing import Any

from fastapi import Response, status
from fastapi.responses import FileResponse

from storefront.auth.dependencies import AdminUser
from storefront.core.db import DbSession
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES
from storefront.core.storage import Storage
from storefront.jobs.dependencies import Queue
from storefront.kit.pagination import Page, Pagination
from storefront.kit.routing import domain_router
from storefront.reports import service
from storefront.reports.dependencies import AdminReport
from storefront.reports.schemas import ReportCreate, ReportRead

router = domain_router(prefix="/api/v1", tags=["reports"])
router.responses.update({**RATE_LIMITED_RESPONSES, **problem_responses(401, 403)})

BINARY = {"schema": {"type": "string", "format": "binary"}}
LOCATION = {"description": "The report, to poll for its status.", "schema": {"type": "string"}}
DISPOSITION = {
    "description": '`attachment; filename="sales-<date>.<format>"`',
    "schema": {"type": "string"},
}


@router.post(
    "/reports",
    response_model=ReportRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: {"headers": {"Location": LOCATION}}, **problem_responses(422)},
)
async def create_report(
    session: DbSession, admin: AdminUser, data: ReportCreate, queue: Queue, response: Response
) -> ReportRead:
    """Queue a report; it is built in the background and the requester is e-mailed when it
    is ready. Poll the `Location` for its status."""
    state = await service.create(session, requested_by=admin.id, data=data, queue=queue)
    response.headers["Location"] = f"/api/v1/reports/{state.report.id}"
    return ReportRead.of(state)


@router.get("/reports", response_model=Page[ReportRead], responses=problem_responses(422))
async def list_reports(session: DbSession, _: AdminUser, pagination: Pagination) -> Any:
    result = await service.list_reports(session, params=pagination)
    return Page[ReportRead].of(
        [ReportRead.of(state) for state in result.rows], total=result.total, params=pagination
    )


@router.get(
    "/reports/{report_id}", response_model=ReportRead, responses=problem_responses(404, 422)
)
async def get_report(report: AdminReport) -> ReportRead:
    return ReportRead.of(report)


@router.get(
    "/reports/{report_id}/download",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The report's file.",
            "content": {"text/csv": BINARY, "application/pdf": BINARY},
            "headers": {"Content-Disposition": DISPOSITION},
        },
        **problem_responses(404, 409, 422),
    },
)
async def download_report(report: AdminReport, storage: Storage) -> FileResponse:
    """The built file, streamed from storage; 409 until the report has succeeded."""
    file = await service.open_file(report, storage=storage)
    return FileResponse(
        file.path,
        media_type=file.media_type,
        filename=file.filename,
        # Sales figures: never kept by a shared cache.
        headers={"Cache-Control": "private, no-store"},
    )
