"""Backends are a fixture parameter: SQLite + in-memory always, PostgreSQL + Redis when
DATABASE_URL / REDIS_URL are set. Each test runs inside a transaction rolled back at the end.
"""

import os
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)
from starlette.types import Receive, Scope, Send

from storefront.core import migrations
from storefront.core.config import Settings
from storefront.core.db import Database, create_engine
from storefront.core.statements import Driver, EngineStatements, ReadStatements, Statements
from storefront.main import create_app
from tests.fixtures.backends import (
    Backend,
    available_backends,
    require_reachable,
    require_redis,
    shared_state_urls,
)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI") == "true":
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError(f"CI=true needs {', '.join(missing)}: backend tests must run")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", params=available_backends(), ids=lambda backend: backend.name)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    backend: Backend = request.param
    if backend.name == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "test.db"
        return Backend("sqlite", f"sqlite+aiosqlite:///{path}", "")
    return backend


@pytest.fixture(params=shared_state_urls(), ids=lambda url: "redis" if url else "memory")
async def redis_url(request: pytest.FixtureRequest) -> str:
    """A platform-service backend: "" for in-memory, else the real Redis of REDIS_URL."""
    url: str = request.param
    await require_redis(url)
    return url


@pytest.fixture(scope="session")
async def engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    await require_reachable(backend)
    await anyio.to_thread.run_sync(migrations.upgrade, backend.database_url)
    engine = create_engine(
        Settings(_env_file=None, environment="test", database_url=backend.database_url)
    )
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        database_url=backend.database_url,
        redis_url=backend.redis_url,
        storage_dir=tmp_path / "files",
        # A request's jobs run inside it, on the test's connection, one at a time.
        jobs_inline=True,
        job_sweep_enabled=False,
        # Argon2 at its cheapest: tests sign in a lot. Tests of hashing set their own.
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        # Tests make the accounts they need; tests/users/test_bootstrap.py sets its own.
        first_admin_email="",
        # Budgets of their own on the shared Redis: other tests' requests do not count.
        rate_limit_key_prefix=f"test:{uuid.uuid4().hex}:ratelimit",
    )


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        if transaction.is_active:
            await transaction.rollback()


def joined_sessionmaker(
    connection: AsyncConnection, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits only release a savepoint of the test's outer transaction."""
    return async_sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info=info,
    )


def joined_reads(connection: AsyncConnection, database: Database) -> Statements:
    """Reads inside the test's transaction: on PostgreSQL still on asyncpg itself, as in
    production, through the connection under the test's."""
    if connection.dialect.driver != "asyncpg":
        return EngineStatements(connection)

    @asynccontextmanager
    async def driver() -> AsyncIterator[Driver]:
        raw = await connection.get_raw_connection()
        yield raw.driver_connection  # type: ignore[misc]

    return ReadStatements(database.compiler, driver)


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with joined_sessionmaker(connection)() as session:
        yield session


@pytest.fixture
def database(settings: Settings, connection: AsyncConnection) -> Database:
    database = Database(settings)
    database.sessionmaker = joined_sessionmaker(connection, database.session_info)
    database.reads = joined_reads(connection, database)
    return database


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(app) as client:
        yield client


@asynccontextmanager
async def running_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, each request getting its own copy of the
    lifespan state, as uvicorn gives it (asgi-lifespan alone shares one dict)."""

    async def per_request_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and "state" in scope:
            scope = {**scope, "state": dict(scope["state"])}
        await app(scope, receive, send)

    async with LifespanManager(per_request_state) as manager, make_client(manager.app) as client:
        LIFESPAN_STATES[app] = manager._state
        RUNNING_APPS[client] = manager.app
        try:
            yield client
        finally:
            LIFESPAN_STATES.pop(app, None)
            RUNNING_APPS.pop(client, None)


def client_from(client: httpx.AsyncClient, address: str) -> httpx.AsyncClient:
    """Another client of the app `client` runs (`running_client`), connecting from
    `address`: for what depends on who the client is (rate limits, fair shares)."""
    return make_client(RUNNING_APPS[client], address=address)


LIFESPAN_STATES: "weakref.WeakKeyDictionary[FastAPI, dict[str, Any]]" = weakref.WeakKeyDictionary()
RUNNING_APPS: "weakref.WeakKeyDictionary[httpx.AsyncClient, Any]" = weakref.WeakKeyDictionary()


@pytest.fixture
def app_state(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    """What the running app's lifespan yielded: its hub, cache, jobs…"""
    return LIFESPAN_STATES[app]


def make_client(app: object, *, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 123))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test")
