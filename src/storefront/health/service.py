"""Readiness: each dependency is probed with its own short timeout, all at once."""

import asyncio
import logging
import threading

import anyio
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storefront.core.db import Database, unit_of_work
from storefront.core.storage import LocalStorage
from storefront.health.schemas import CheckState, Readiness, ReadinessChecks, StorageState
from storefront.jobs import service as jobs_service

logger = logging.getLogger("storefront.health")

# Held by the storage probe's thread: a probe stuck on a hung filesystem is abandoned at
# the timeout, and the ones after it fail at once instead of piling up threads behind it.
_STORAGE_PROBE = threading.Lock()


class ProbeStillRunning(Exception):
    """The previous storage probe has not returned."""


async def check_database(engine: AsyncEngine, *, timeout: float) -> CheckState:
    try:
        async with asyncio.timeout(timeout), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        logger.warning("readiness: database check failed: %s", type(exc).__name__)
        return "error"
    return "ok"


async def check_redis(redis: Redis | None, *, timeout: float) -> CheckState:
    if redis is None:
        return "disabled"
    try:
        async with asyncio.timeout(timeout):
            await redis.ping()
    except Exception as exc:
        logger.warning("readiness: redis check failed: %s", type(exc).__name__)
        return "error"
    return "ok"


def _probe(storage: LocalStorage) -> int:
    if not _STORAGE_PROBE.acquire(blocking=False):
        raise ProbeStillRunning()
    try:
        return storage.probe()
    finally:
        _STORAGE_PROBE.release()


async def check_storage(
    storage: LocalStorage, *, min_free_bytes: int, timeout: float
) -> StorageState:
    """An error when the storage cannot be written, or has less than `min_free_bytes` free:
    the next upload of the largest size allowed would not fit."""
    try:
        async with asyncio.timeout(timeout):
            free = await anyio.to_thread.run_sync(_probe, storage, abandon_on_cancel=True)
    except Exception as exc:
        logger.warning("readiness: storage check failed: %s", type(exc).__name__)
        return "error"
    if free < min_free_bytes:
        logger.warning(
            "readiness: storage nearly full",
            extra={"free_bytes": free, "min_free_bytes": min_free_bytes},
        )
        return "error"
    return "ok"


async def check_readiness(
    engine: AsyncEngine,
    redis: Redis | None,
    storage: LocalStorage,
    *,
    min_free_bytes: int,
    timeout: float,
) -> Readiness:
    database, cache, files = await asyncio.gather(
        check_database(engine, timeout=timeout),
        check_redis(redis, timeout=timeout),
        check_storage(storage, min_free_bytes=min_free_bytes, timeout=timeout),
    )
    checks = ReadinessChecks(database=database, redis=cache, storage=files)
    healthy = "error" not in (database, cache, files)
    return Readiness(status="healthy" if healthy else "degraded", checks=checks)


async def count_jobs(database: Database, *, timeout: float) -> dict[str, int] | None:
    """Job counts for /metrics; None (and the scrape goes on) if the database is slow."""
    try:
        async with asyncio.timeout(timeout), unit_of_work(database.sessionmaker) as session:
            counts = await jobs_service.count_by_status(session)
    except Exception as exc:
        logger.warning("metrics: job counts unavailable: %s", type(exc).__name__)
        return None
    return {status.value: count for status, count in counts.items()}
