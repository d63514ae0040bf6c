import uuid
from datetime import date, datetime
from typing import Self

from pydantic import BaseModel, Field, model_validator

from storefront.kit.schemas import InputModel
from storefront.reports.models import ReportFormat, ReportKind, ReportStatus
from storefront.reports.state import ReportState


class ReportCreate(InputModel):
    kind: ReportKind
    format: ReportFormat
    date_from: date | None = Field(
        default=None, description="First day included (UTC); none = from the first order."
    )
    date_to: date | None = Field(
        default=None, description="Last day included (UTC); none = up to the newest order."
    )

    @model_validator(mode="after")
    def _dates_ordered(self) -> Self:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from must not be after date_to")
        return self


class ReportRead(BaseModel):
    id: uuid.UUID
    kind: ReportKind
    format: ReportFormat
    status: ReportStatus
    date_from: date | None
    date_to: date | None
    attempts: int = Field(description="Build attempts so far (a failed one is retried).")
    error: str | None = Field(description="Why the last attempt failed, if it did.")
    download_url: str | None = Field(description="Set once the report has succeeded.")
    size: int | None = Field(description="The file's size in bytes, once built.")
    row_count: int | None = Field(description="Orders in the report, once built.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, state: ReportState) -> "ReportRead":
        report = state.report
        succeeded = state.status == ReportStatus.SUCCEEDED
        return cls(
            id=report.id,
            kind=report.kind,
            format=report.format,
            status=state.status,
            date_from=report.date_from,
            date_to=report.date_to,
            attempts=state.attempts,
            error=state.error,
            download_url=f"/api/v1/reports/{report.id}/download" if succeeded else None,
            size=report.size,
            row_count=report.row_count,
            created_at=report.created_at,
            started_at=report.started_at,
            finished_at=report.finished_at,
        )
