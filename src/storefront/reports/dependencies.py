import uuid
from typing import Annotated

from fastapi import Depends, Path

from storefront.auth.dependencies import AdminUser
from storefront.core.db import DbSession
from storefront.reports import service
from storefront.reports.state import ReportState

ReportId = Annotated[uuid.UUID, Path(description="The report's id.")]


async def load_report(session: DbSession, _: AdminUser, report_id: ReportId) -> ReportState:
    return await service.get(session, report_id)


AdminReport = Annotated[ReportState, Depends(load_report)]
