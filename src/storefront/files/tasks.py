"""Housekeeping of stored files."""

import logging
from datetime import timedelta

from pydantic import BaseModel

from storefront.core.storage import create_storage
from storefront.jobs.registry import JobContext, job

PURGE_PARTIAL_UPLOADS = "files.purge_partial_uploads"
# A partial file nobody holds any more (its process died) goes once this old; younger,
# its writer may not have taken the lock yet.
ABANDONED_AFTER = timedelta(hours=1)
# Where locks do not work: far longer than any upload of UPLOAD_MAX_BYTES or report build
# takes, so one still being written is safe.
PARTIAL_MAX_AGE = timedelta(hours=24)

logger = logging.getLogger("storefront.files")


class NoPayload(BaseModel):
    pass


@job(PURGE_PARTIAL_UPLOADS, NoPayload, every_seconds=3600.0)
async def purge_partial_uploads(context: JobContext, _: NoPayload) -> None:
    """A process killed mid-upload or mid-report leaves its partial file behind; nothing
    else does."""
    removed = await create_storage(context.settings).purge_partials(
        abandoned_after=ABANDONED_AFTER, older_than=PARTIAL_MAX_AGE
    )
    if removed:
        logger.info("removed abandoned partial files", extra={"count": removed})
