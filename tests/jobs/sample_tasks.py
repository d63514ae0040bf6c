"""Jobs that exist only in the tests (imported by them and by the worker they start)."""

import asyncio
from collections import Counter

from pydantic import BaseModel

from storefront.jobs.registry import JobContext, PermanentJobError, job

RUNS: Counter[str] = Counter()


class Marked(BaseModel):
    marker: str


class Flaky(BaseModel):
    marker: str
    succeed_on_attempt: int


class Slow(BaseModel):
    seconds: float


@job("test.record", Marked)
async def record(context: JobContext, payload: Marked) -> None:
    RUNS[payload.marker] += 1


@job("test.flaky", Flaky)
async def flaky(context: JobContext, payload: Flaky) -> None:
    RUNS[payload.marker] += 1
    if context.attempt < payload.succeed_on_attempt:
        raise ConnectionError(f"attempt {context.attempt} failed")


@job("test.permanent", Marked)
async def permanent(context: JobContext, payload: Marked) -> None:
    RUNS[payload.marker] += 1
    raise PermanentJobError("the input cannot be processed")


@job("test.slow", Slow, timeout_seconds=3.0)
async def slow(context: JobContext, payload: Slow) -> None:
    await asyncio.sleep(payload.seconds)


class Tick(BaseModel):
    pass


@job("test.tick", Tick)
async def tick(context: JobContext, payload: Tick) -> None:
    RUNS["tick"] += 1


class Hold(BaseModel):
    first_attempt_seconds: float


@job("test.hold", Hold)
async def hold(context: JobContext, payload: Hold) -> None:
    """Long on its first attempt only (bounded by JOB_TIMEOUT_SECONDS, not by a timeout of
    its own): a worker killed in the middle of it, the next attempt is quick."""
    if context.attempt == 1:
        await asyncio.sleep(payload.first_attempt_seconds)


@job("test.long", Slow, timeout_seconds=60.0)
async def long(context: JobContext, payload: Slow) -> None:
    """Slow, with a timeout of its own far above JOB_TIMEOUT_SECONDS (and the lease)."""
    await asyncio.sleep(payload.seconds)
