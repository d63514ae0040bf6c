from typing import Literal

from pydantic import BaseModel

CheckState = Literal["ok", "error", "disabled"]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["healthy", "degraded"]
    checks: dict[str, CheckState]
