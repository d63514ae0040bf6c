import os
import time
import uuid
from typing import Any

import pytest

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.files.tasks import NoPayload, purge_partial_uploads
from storefront.jobs.registry import JobContext

pytestmark = pytest.mark.anyio


async def test_the_purge_job_removes_only_stale_partial_uploads(
    settings: Settings, database: Database, app_state: dict[str, Any]
) -> None:
    context = JobContext(
        settings=settings,
        database=database,
        queue=app_state["jobs"].queue,
        job_id=str(uuid.uuid4()),
        attempt=1,
        max_attempts=1,
    )
    directory = settings.storage_dir / ".partial"
    directory.mkdir(parents=True)
    (directory / "stale").write_bytes(b"left by a killed process")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(directory / "stale", (two_days_ago, two_days_ago))
    (directory / "fresh").write_bytes(b"an upload still streaming")

    await purge_partial_uploads(context, NoPayload())

    assert sorted(path.name for path in directory.iterdir()) == ["fresh"]
