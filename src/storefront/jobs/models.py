"""The state of every durable job, as users and operators see it."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storefront.kit.models import Base, TimestampMixin, enum_column, utc_now


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


Payload = dict[str, Any]


class Job(TimestampMixin, Base):
    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="status_known"
        ),
        # The sweep's two questions: which queued jobs are due, which leases have expired.
        Index("ix_job_status_run_after", "status", "run_after"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[Payload] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
    run_after: Mapped[datetime] = mapped_column(default=utc_now)
    # When a message for this job was last handed to the broker: the sweep re-sends a
    # queued job only when that is long past (a crash between commit and send).
    dispatched_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # The W3C trace context (traceparent, tracestate) of the span that enqueued the job,
    # when tracing is on: every run's span is its child, in whichever process it runs.
    trace_context: Mapped[dict[str, str] | None] = mapped_column(JSON)
