"""The jobs a process knows: a name, a payload model, a handler and its retry limits.

Domains declare their jobs in their own `tasks.py` with `@job("<domain>.<event>", ...)`;
`storefront.tasks` imports every such module so a worker and an API process know the
same set.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from storefront.core.config import Settings
from storefront.core.db import Database

if TYPE_CHECKING:
    from storefront.jobs.queue import JobQueue


class PermanentJobError(Exception):
    """A failure that another attempt cannot fix: the job fails at once, without retries."""


@dataclass(frozen=True)
class JobContext:
    """What a running job gets besides its payload. It opens its own units of work."""

    settings: Settings
    database: Database
    queue: "JobQueue"
    job_id: str
    attempt: int
    max_attempts: int

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[JobContext, Any], Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    payload_model: type[BaseModel]
    handler: Handler
    max_attempts: int | None
    timeout_seconds: float | None


JOBS: dict[str, JobSpec] = {}
# Jobs the sweeping processes enqueue on a schedule: name → seconds between runs.
PERIODIC: dict[str, float] = {}
PayloadT = TypeVar("PayloadT", bound=BaseModel)


def job(
    name: str,
    payload_model: type[PayloadT],
    *,
    max_attempts: int | None = None,
    timeout_seconds: float | None = None,
    every_seconds: float | None = None,
) -> Callable[
    [Callable[[JobContext, PayloadT], Awaitable[None]]],
    Callable[[JobContext, PayloadT], Awaitable[None]],
]:
    """Register a handler; `max_attempts`/`timeout_seconds` default to the settings'.

    With `every_seconds` the job also runs on a schedule (its payload model must then
    need no fields); each sweeping process enqueues it that often, so it must be
    harmless to run twice."""

    def register(
        handler: Callable[[JobContext, PayloadT], Awaitable[None]],
    ) -> Callable[[JobContext, PayloadT], Awaitable[None]]:
        if name in JOBS:
            raise ValueError(f"job {name!r} is registered twice")
        JOBS[name] = JobSpec(name, payload_model, handler, max_attempts, timeout_seconds)
        if every_seconds is not None:
            PERIODIC[name] = every_seconds
        return handler

    return register


def get_spec(name: str) -> JobSpec:
    try:
        return JOBS[name]
    except KeyError:
        raise LookupError(f"unknown job {name!r}") from None
