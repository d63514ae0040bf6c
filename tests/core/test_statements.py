"""Core statements on the driver: inside a unit of work they share its transaction, reads
outside any survive a lost connection, and a connection the server closed never reaches
a request."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import cast

import anyio
import asyncpg
import pytest
from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from storefront.catalog.models import Item, ItemCount
from storefront.core import migrations
from storefront.core.config import Settings
from storefront.core.db import Database, after_commit, statements, transaction, unit_of_work
from storefront.core.statements import DatabaseUnavailable, compile_for
from tests.fixtures.backends import unreachable

pytestmark = pytest.mark.anyio

ITEM_COUNT = cast(Table, ItemCount.__table__)
ITEMS = ITEM_COUNT.c["items"]  # `.c.items` is the column collection's own method
ADD = update(ITEM_COUNT).values(items=ITEMS + bindparam("n"))
COUNT = select(ITEMS)


class Boom(Exception):
    pass


@pytest.fixture
async def own_database(settings: Settings, engine: object) -> AsyncIterator[Database]:
    """A Database with engine and pool of its own: units of work here really commit."""
    database = Database(settings)
    yield database
    await database.dispose()


async def test_a_unit_of_works_statements_commit_and_roll_back_with_it(
    own_database: Database,
) -> None:
    before = await own_database.reads.scalar(COUNT)
    with pytest.raises(Boom):
        async with unit_of_work(own_database.sessionmaker) as session:
            await (await statements(session)).run(ADD, n=1000)
            # The ORM, in the same transaction, sees the statement's change.
            assert await session.scalar(COUNT) == before + 1000
            raise Boom()
    assert await own_database.reads.scalar(COUNT) == before
    try:
        async with unit_of_work(own_database.sessionmaker) as session:
            await (await statements(session)).run(ADD, n=1000)
        assert await own_database.reads.scalar(COUNT) == before + 1000
    finally:
        async with unit_of_work(own_database.sessionmaker) as session:
            await (await statements(session)).run(ADD, n=-1000)


async def test_statements_return_rows_counts_and_run_many(own_database: Database) -> None:
    async with unit_of_work(own_database.sessionmaker) as session:
        on = await statements(session)
        assert await on.run(ADD, n=0) == 1
        returned = await on.one(ADD.returning(ITEMS), n=0)
        assert returned is not None
        assert returned["items"] == await on.scalar(COUNT)
        await on.run_many(ADD, [{"n": 0}, {"n": 0}])
        assert await on.scalar(COUNT) == returned["items"]


def test_expanding_parameters_are_refused() -> None:
    engine = create_async_engine("postgresql+asyncpg://nobody@localhost/none")
    with pytest.raises(ValueError, match="expanding"):
        compile_for(
            select(Item.id).where(Item.id.in_(bindparam("ids", expanding=True))), engine.dialect
        )


@pytest.fixture
async def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        unreachable("DATABASE_URL (PostgreSQL) is needed: connections lost to the server")
    await anyio.to_thread.run_sync(migrations.upgrade, url)
    return url


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(Settings(_env_file=None, environment="test", database_url=postgres_url))
    yield database
    await database.dispose()


async def _terminate(url: str, pid: int) -> None:
    killer = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()


async def test_a_connection_the_server_closed_is_replaced_before_use(
    postgres_url: str, postgres: Database
) -> None:
    async with unit_of_work(postgres.sessionmaker) as session:
        first = await session.scalar(text("SELECT pg_backend_pid()"))
    await _terminate(postgres_url, first)
    await asyncio.sleep(0.2)  # the server's goodbye reaches the client's socket
    async with unit_of_work(postgres.sessionmaker) as session:
        second = await session.scalar(text("SELECT pg_backend_pid()"))
    assert second != first


SLOW_PID = select(func.pg_backend_pid().label("pid"), func.pg_sleep(0.5).label("slept"))


async def test_a_read_whose_connection_dies_under_it_is_repeated_on_another(
    postgres_url: str, postgres: Database
) -> None:
    read = asyncio.create_task(postgres.reads.one(SLOW_PID))
    killer = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        pid = None
        for _ in range(100):
            pid = await killer.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            )
            if pid is not None:
                break
            await asyncio.sleep(0.02)
        assert pid is not None
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    row = await read
    assert row is not None
    assert row["pid"] != pid


async def test_reads_with_no_database_are_a_503() -> None:
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        db_connect_timeout_seconds=0.5,
    )
    database = Database(settings)
    try:
        with pytest.raises(DatabaseUnavailable):
            await database.reads.scalar(COUNT)
    finally:
        await database.dispose()


async def test_a_transaction_of_statements_commits_rolls_back_and_runs_effects_after(
    own_database: Database,
) -> None:
    ran: list[str] = []

    async def effect() -> None:
        ran.append("after commit")

    before = await own_database.reads.scalar(COUNT)
    with pytest.raises(Boom):
        async with transaction(own_database) as work:
            await (await statements(work)).run(ADD, n=1000)
            after_commit(work, effect)
            raise Boom()
    assert await own_database.reads.scalar(COUNT) == before
    assert ran == []
    try:
        async with transaction(own_database) as work:
            await (await statements(work)).run(ADD, n=1000)
            after_commit(work, effect)
            assert ran == []
        assert ran == ["after commit"]
        assert await own_database.reads.scalar(COUNT) == before + 1000
    finally:
        async with transaction(own_database) as work:
            await (await statements(work)).run(ADD, n=-1000)
