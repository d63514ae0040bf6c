"""The bench database: emptied, migrated and seeded through the real `storefront` command,
then read for the ids the wrk scripts draw from."""

import asyncio
import math
import subprocess
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.configuration import database_name
from bench.errors import BenchError
from bench.wrk import Catalog

SEED_ITEMS = 10_000
SEED_ARGS = ("--items", str(SEED_ITEMS), "--users", "50", "--orders", "500", "--seed", "1")
PER_PAGE = 100
# Seeded stock is 20 to 499 per item less what the seeded orders took; a long run of
# POST /orders must not find an item sold out, which would answer 409.
STOCK_ADDED = 1_000_000
MIGRATE_TIMEOUT_SECONDS = 120.0
SEED_TIMEOUT_SECONDS = 900.0
LOCK_TIMEOUT = "10s"


@dataclass(frozen=True)
class SeededCatalog(Catalog):
    items: int = 0
    min_stock_seeded: int = 0
    stock_added: int = 0


def require_bench_database(url: str) -> None:
    name = database_name(url)
    if "bench" not in name.lower():
        raise BenchError(
            f"refusing to use database {name!r}: the bench empties its database, so its "
            "name must contain 'bench' (e.g. storefront_bench)"
        )


def reset_postgresql(url: str) -> None:
    """Drop everything in the public schema (and the schema itself), then recreate it."""
    asyncio.run(
        _execute(
            url,
            f"SET lock_timeout = '{LOCK_TIMEOUT}'",
            "DROP SCHEMA IF EXISTS public CASCADE",
            "CREATE SCHEMA public",
        )
    )


def storefront_command(
    args: tuple[str, ...], env: Mapping[str, str], workdir: Path, *, timeout: float
) -> None:
    cli = Path(sysconfig.get_path("scripts")) / "storefront"
    try:
        done = subprocess.run(
            [str(cli), *args],
            capture_output=True,
            text=True,
            env=dict(env),
            cwd=workdir,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"storefront {' '.join(args)} took more than {timeout:.0f} s") from error
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise BenchError(f"storefront {' '.join(args)} failed ({done.returncode}):\n{output}")


def migrate(env: Mapping[str, str], workdir: Path) -> None:
    storefront_command(("migrate",), env, workdir, timeout=MIGRATE_TIMEOUT_SECONDS)


def seed(env: Mapping[str, str], workdir: Path) -> None:
    storefront_command(("seed", *SEED_ARGS), env, workdir, timeout=SEED_TIMEOUT_SECONDS)


def prepare_catalog(url: str) -> SeededCatalog:
    """The seeded id range (which must be gapless: every drawn id exists), and stock
    raised out of the run's reach in one UPDATE."""
    rows = asyncio.run(
        _execute(
            url,
            "SELECT min(id), max(id), count(*), min(stock) FROM item",
            f"UPDATE item SET stock = stock + {STOCK_ADDED}",
        )
    )
    first, last, count, min_stock = rows[0]
    if count != SEED_ITEMS or last - first + 1 != count:
        raise BenchError(f"expected {SEED_ITEMS} items with ids without gaps; found {rows[0]}")
    return SeededCatalog(
        first_id=first,
        last_id=last,
        pages=math.ceil(count / PER_PAGE),
        items=count,
        min_stock_seeded=min_stock,
        stock_added=STOCK_ADDED,
    )


async def _execute(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Runs the statements in one transaction; returns the first result's rows."""
    engine = create_async_engine(url, poolclass=NullPool)
    rows: list[tuple[Any, ...]] = []
    try:
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                if result.returns_rows and not rows:
                    rows = [tuple(row) for row in result.all()]
    except Exception as error:
        raise BenchError(f"database {database_name(url)!r}: {error}") from error
    finally:
        await engine.dispose()
    return rows


def server_versions(database_url: str, redis_url: str) -> dict[str, str]:
    rows = asyncio.run(_execute(database_url, "SHOW server_version"))
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        info = client.info("server")
    except redis.RedisError as error:
        raise BenchError(f"Redis at {redis_url}: {error}") from error
    finally:
        client.close()
    return {"postgresql": str(rows[0][0]), "redis": str(info.get("redis_version"))}
