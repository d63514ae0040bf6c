"""Housekeeping of stored files."""

import logging
from datetime import timedelta

from pydantic import BaseModel

from storefront.core.storage import create_storage
from storefront.jobs.registry import JobContext, job

PURGE_PARTIAL_UPLOADS = "files.purge_partial_uploads"
# Far longer than any upload of UPLOAD_MAX_BYTES takes, so one still streaming is safe.
PARTIAL_MAX_AGE = timedelta(hours=24)

logger = logging.getLogger("storefront.files")


class NoPayload(BaseModel):
    pass


@job(PURGE_PARTIAL_UPLOADS, NoPayload, every_seconds=3600.0)
async def purge_partial_uploads(context: JobContext, _: NoPayload) -> None:
    """A process killed mid-upload leaves its temporary file behind; nothing else does."""
    removed = await create_storage(context.settings).purge_partials(older_than=PARTIAL_MAX_AGE)
    if removed:
        logger.info("removed abandoned partial uploads", extra={"count": removed})
