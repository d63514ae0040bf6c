from typing import Literal

from pydantic import BaseModel, Field

CheckState = Literal["ok", "error", "disabled"]
StorageState = Literal["ok", "error"]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessChecks(BaseModel):
    database: CheckState = Field(description="`SELECT 1` answered within the timeout.")
    redis: CheckState = Field(description="PING answered; `disabled` without REDIS_URL.")
    storage: StorageState = Field(
        description=(
            "STORAGE_DIR accepts a new file and has at least UPLOAD_MAX_BYTES free "
            "(room for one more upload of the largest size allowed)."
        )
    )


class Readiness(BaseModel):
    status: Literal["healthy", "degraded"]
    checks: ReadinessChecks
