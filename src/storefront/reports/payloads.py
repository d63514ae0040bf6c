"""The build job's name and payload: known to the service that queues a build and to a
build that queues its own successor."""

import uuid

from pydantic import BaseModel

BUILD_REPORT = "reports.build"


class BuildReport(BaseModel):
    report_id: uuid.UUID
