"""Upgrade → downgrade → upgrade works, the models match the migrations exactly, and pods
migrating at once do not collide."""

import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from subprocess import STDOUT, CompletedProcess

import anyio
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storefront.core import migrations
from storefront.models import metadata
from tests.fixtures.backends import Backend, unreachable

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def scratch_postgres_database(server_url: str) -> AsyncIterator[str]:
    name = f"storefront_migrations_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(False)
    finally:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


@pytest.fixture
async def empty_database(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, so migrating down cannot disturb the other tests."""
    if not backend.is_postgres:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    async with scratch_postgres_database(backend.database_url) as url:
        yield url


@pytest.fixture
async def empty_postgres_database() -> AsyncIterator[str]:
    """For PostgreSQL-only behaviour: run once, not per backend, and never skipped in CI."""
    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith("postgresql"):
        unreachable("DATABASE_URL (PostgreSQL) is needed: the migration lock is an advisory lock")
    async with scratch_postgres_database(server_url) as url:
        yield url


def schema_drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": migrations.include_object,
        },
    )
    return list(compare_metadata(context, metadata))


def table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_downgrade_upgrade_round_trip(empty_database: str) -> None:
    await anyio.to_thread.run_sync(migrations.upgrade, empty_database)
    engine = create_async_engine(empty_database)
    try:
        async with engine.connect() as connection:
            upgraded = await connection.run_sync(table_names)
        assert set(metadata.tables) <= upgraded
        await anyio.to_thread.run_sync(migrations.downgrade, empty_database, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(table_names) <= {"alembic_version"}
        await anyio.to_thread.run_sync(migrations.upgrade, empty_database)
        async with engine.connect() as connection:
            assert await connection.run_sync(table_names) == upgraded
            assert await connection.run_sync(schema_drift) == []
    finally:
        await engine.dispose()


def test_every_migration_has_a_downgrade() -> None:
    for path in sorted(migrations.MIGRATIONS_DIR.joinpath("versions").glob("*.py")):
        assert "def downgrade() -> None:" in path.read_text(), path.name


async def test_pods_migrating_at_once_wait_for_each_other(empty_postgres_database: str) -> None:
    """Every API pod runs `storefront migrate` before it starts: one migrates, the others
    wait for its lock and then find the database at head (without it they collide on the
    same CREATE TABLE and fail)."""
    empty_database = empty_postgres_database
    environment = {**os.environ, "ENVIRONMENT": "test", "DATABASE_URL": empty_database}
    command = [sys.executable, "-m", "storefront.cli", "migrate"]
    results: list[CompletedProcess[bytes]] = []

    async def migrate() -> None:
        results.append(
            await anyio.run_process(command, env=environment, check=False, stderr=STDOUT)
        )

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(migrate)
    outputs = [result.stdout.decode() for result in results]
    assert [result.returncode for result in results] == [0] * 4, outputs
    assert sum("Running upgrade" in output for output in outputs) == 1, outputs
    engine = create_async_engine(empty_database)
    try:
        async with engine.connect() as connection:
            assert set(metadata.tables) <= await connection.run_sync(table_names)
    finally:
        await engine.dispose()
