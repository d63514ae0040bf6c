"""Readiness: each dependency is probed with its own short timeout, all at once."""

import asyncio
import logging

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storefront.core.db import Database, unit_of_work
from storefront.health.schemas import CheckState, Readiness
from storefront.jobs import service as jobs_service

logger = logging.getLogger("storefront.health")


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


async def check_readiness(engine: AsyncEngine, redis: Redis | None, *, timeout: float) -> Readiness:
    database, cache = await asyncio.gather(
        check_database(engine, timeout=timeout), check_redis(redis, timeout=timeout)
    )
    checks: dict[str, CheckState] = {"database": database, "redis": cache}
    healthy = all(state != "error" for state in checks.values())
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
