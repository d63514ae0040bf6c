"""Reports an admin asked for: what to build, how far the build got, where the file is."""

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storefront.kit.models import Base, BigId, TimestampMixin, enum_column


class ReportKind(StrEnum):
    SALES = "sales"


class ReportFormat(StrEnum):
    CSV = "csv"
    PDF = "pdf"


class ReportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Report(TimestampMixin, Base):
    __tablename__ = "report"
    __table_args__ = (
        CheckConstraint(
            "date_from IS NULL OR date_to IS NULL OR date_from <= date_to", name="dates_ordered"
        ),
        # A succeeded report always has its file.
        CheckConstraint(
            "status != 'succeeded' OR storage_key IS NOT NULL", name="succeeded_has_file"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[ReportKind] = mapped_column(enum_column(ReportKind))
    format: Mapped[ReportFormat] = mapped_column(enum_column(ReportFormat))
    # Whole days in UTC, both inclusive; none = unbounded on that side.
    date_from: Mapped[date | None]
    date_to: Mapped[date | None]
    status: Mapped[ReportStatus] = mapped_column(
        enum_column(ReportStatus), default=ReportStatus.QUEUED
    )
    requested_by_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user.id", ondelete="RESTRICT"), index=True
    )
    # The build job; the job's row keeps its own state (attempts, back-off, lease).
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    storage_key: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
