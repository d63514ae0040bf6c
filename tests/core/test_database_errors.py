"""Which errors of the database are a 503, which a 409 or a 422, and which stay a 500: as
asyncpg raises them (statements run on the driver) and as SQLAlchemy wraps them (the ORM).
The exceptions are the drivers' own classes, wrapped the way SQLAlchemy's adapter does."""

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storefront.core.config import Settings
from storefront.core.db import Database, statements, unit_of_work
from storefront.core.errors import (
    DATABASE_BUSY,
    DatabaseUnavailable,
    NotFound,
    connection_lost,
    database_unavailable,
)
from storefront.core.problems import DATABASE_ERRORS, install_problem_handlers
from tests.fixtures.backends import unreachable

pytestmark = pytest.mark.anyio

DIALECT = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1/none").dialect
UNAVAILABLE = "The database is unavailable; retry shortly."


def translated(error: Exception) -> Exception:
    """`error` as SQLAlchemy's asyncpg adapter raises it: its own DB-API class, unwrapped
    (from the BEGIN that statements(session) sends through it)."""
    dbapi = DIALECT.loaded_dbapi
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, error)
    except dbapi.Error as adapted:
        return adapted
    raise AssertionError("not translated")


def wrapped(error: Exception, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    """`error` as the ORM sees it: translated by the adapter, then wrapped in SQLAlchemy's
    own class."""
    adapted = translated(error)
    wrapper = sa_exc.DBAPIError.instance(
        "SELECT 1", None, adapted, DIALECT.loaded_dbapi.Error, connection_invalidated=invalidated
    )
    assert isinstance(wrapper, sa_exc.DBAPIError)
    wrapper.__cause__ = adapted
    return wrapper


def lost_mid_query() -> asyncpg.ConnectionDoesNotExistError:
    error = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    error.__cause__ = asyncpg.AdminShutdownError(
        "terminating connection due to administrator command"
    )
    return error


# Each error of asyncpg's, with whether its connection is lost (to be discarded) and the
# 503's detail. The socket's own errors and timeouts are left to the handlers of any
# backing service (tests/core/test_problems.py): they are not the database's alone.
LOSSES: dict[str, tuple[Exception, bool, str]] = {
    "admin shutdown 57P01": (
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        True,
        UNAVAILABLE,
    ),
    "crash shutdown 57P02": (
        asyncpg.CrashShutdownError(
            "terminating connection because of crash of another server process"
        ),
        True,
        UNAVAILABLE,
    ),
    "starting up 57P03": (
        asyncpg.CannotConnectNowError("the database system is starting up"),
        False,
        UNAVAILABLE,
    ),
    "shutting down 57P03": (
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        False,
        UNAVAILABLE,
    ),
    "in recovery 57P03": (
        asyncpg.CannotConnectNowError("the database system is not yet accepting connections"),
        False,
        UNAVAILABLE,
    ),
    "terminated mid-query 08003": (lost_mid_query(), True, UNAVAILABLE),
    "connection failure 08006": (
        asyncpg.ConnectionFailureError("server closed the connection unexpectedly"),
        True,
        UNAVAILABLE,
    ),
    "idle in transaction too long 25P03": (
        asyncpg.IdleInTransactionSessionTimeoutError(
            "terminating connection due to idle-in-transaction timeout"
        ),
        True,
        UNAVAILABLE,
    ),
    "closed": (asyncpg.InterfaceError("connection is closed"), True, UNAVAILABLE),
    "another operation": (
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        True,
        UNAVAILABLE,
    ),
    "another operation in the protocol": (
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        True,
        UNAVAILABLE,
    ),
    "too many connections 53300": (
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        False,
        DATABASE_BUSY,
    ),
    "statement timeout 57014": (
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        False,
        DATABASE_BUSY,
    ),
}
# Neither lost nor busy: what the client sent (422, 409) or a bug (500).
OTHERS: dict[str, tuple[Exception, int]] = {
    "syntax error 42601": (asyncpg.PostgresSyntaxError('syntax error at or near "SELEC"'), 500),
    "undefined column 42703": (asyncpg.UndefinedColumnError('column "nope" does not exist'), 500),
    "wrong argument count": (
        asyncpg.InterfaceError("the server expects 1 argument for this query, 0 were passed"),
        500,
    ),
    "deadlock 40P01": (asyncpg.DeadlockDetectedError("deadlock detected"), 500),
    "NUL in text 22021": (
        asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'),
        422,
    ),
    "integer out of range 22003": (
        asyncpg.NumericValueOutOfRangeError("integer out of range"),
        422,
    ),
    "unique violation 23505": (
        asyncpg.UniqueViolationError(
            'duplicate key value violates unique constraint "uq_item_sku"'
        ),
        409,
    ),
    "foreign key violation 23503": (
        asyncpg.ForeignKeyViolationError("insert or update violates foreign key constraint"),
        409,
    ),
}


def cases_of_losses() -> list[Any]:
    """Each error as asyncpg raises it, as SQLAlchemy's adapter does, as the ORM sees it."""
    cases = []
    for name, (error, lost, detail) in LOSSES.items():
        cases.append(pytest.param(error, lost, detail, id=f"driver: {name}"))
        cases.append(pytest.param(translated(error), lost, detail, id=f"adapter: {name}"))
        cases.append(pytest.param(wrapped(error), lost, detail, id=f"orm: {name}"))
    return cases


def cases_of_others() -> list[Any]:
    cases = []
    for name, (error, status) in OTHERS.items():
        cases.append(pytest.param(error, status, id=f"driver: {name}"))
        cases.append(pytest.param(translated(error), status, id=f"adapter: {name}"))
        cases.append(pytest.param(wrapped(error), status, id=f"orm: {name}"))
    return cases


@pytest.fixture
async def raising() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with the problem handlers and a route that raises `app.state.error`."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/raise")
    async def raise_error() -> None:
        raise app.state.error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield app, client


@pytest.mark.parametrize(("error", "lost", "detail"), cases_of_losses())
async def test_a_lost_or_busy_database_is_a_503_problem_with_retry_after(
    raising: tuple[FastAPI, httpx.AsyncClient], error: Exception, lost: bool, detail: str
) -> None:
    app, client = raising
    app.state.error = error
    response = await client.get("/raise")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert (body["code"], body["detail"]) == ("SERVICE_UNAVAILABLE", detail)
    assert connection_lost(error) is lost


@pytest.mark.parametrize(("error", "status"), cases_of_others())
async def test_other_database_errors_keep_their_meaning(
    raising: tuple[FastAPI, httpx.AsyncClient], error: Exception, status: int
) -> None:
    app, client = raising
    app.state.error = error
    response = await client.get("/raise")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in response.headers
    assert database_unavailable(error) is None
    assert not connection_lost(error)


async def test_sqlalchemy_pool_timeout_and_invalidated_connections_are_503s(
    raising: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = raising
    pool_timeout = sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached")
    # SQLAlchemy's own verdict: a disconnect, whatever the driver said.
    invalidated = wrapped(asyncpg.PostgresError("server went away"), invalidated=True)
    for error, detail in ((pool_timeout, DATABASE_BUSY), (invalidated, UNAVAILABLE)):
        app.state.error = error
        response = await client.get("/raise")
        assert (response.status_code, response.json()["detail"]) == (503, detail)
    assert connection_lost(invalidated)
    assert not connection_lost(pool_timeout)


async def test_other_operating_errors_stay_503s() -> None:
    """What the DB-API calls an OperationalError (SQLite's "database is locked")."""
    locked = sa_exc.OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked"))
    unavailable = database_unavailable(locked)
    assert unavailable is not None
    assert unavailable.detail == UNAVAILABLE
    assert not connection_lost(locked)


def test_an_error_already_decided_is_left_alone() -> None:
    """A read's own 503 (raised from the driver's error) is not taken for a lost connection
    of the unit of work it was made in."""
    read_failed = DatabaseUnavailable()
    read_failed.__cause__ = asyncpg.AdminShutdownError("terminating connection")
    assert database_unavailable(read_failed) is None
    assert not connection_lost(read_failed)
    assert database_unavailable(NotFound()) is None


async def test_a_host_name_that_does_not_resolve_is_a_503(
    raising: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """As the database's driver raises it when DNS fails, and any other client."""
    app, client = raising
    app.state.error = socket.gaierror(-3, "Temporary failure in name resolution")
    response = await client.get("/raise")
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'errors.db'}")
    yield engine
    await engine.dispose()


async def invalidations_in_a_failed_unit_of_work(engine: AsyncEngine, error: Exception) -> int:
    invalidated: list[object] = []
    event.listen(engine.sync_engine.pool, "invalidate", lambda *_: invalidated.append(1))
    with pytest.raises(type(error)) as raised:
        async with unit_of_work(async_sessionmaker(engine)) as session:
            await session.connection()
            raise error
    assert raised.value is error  # not translated: callers keep the driver's error
    return len(invalidated)


@pytest.mark.parametrize(("error", "lost", "detail"), cases_of_losses())
async def test_a_unit_of_work_discards_a_lost_connection_instead_of_rolling_back(
    sqlite_engine: AsyncEngine, error: Exception, lost: bool, detail: str
) -> None:
    assert await invalidations_in_a_failed_unit_of_work(sqlite_engine, error) == int(lost)


@pytest.mark.parametrize(("error", "status"), cases_of_others())
async def test_a_unit_of_work_rolls_back_on_other_errors(
    sqlite_engine: AsyncEngine, error: Exception, status: int
) -> None:
    assert await invalidations_in_a_failed_unit_of_work(sqlite_engine, error) == 0


# On a real PostgreSQL: a connection lost in a unit of work is discarded (the next unit of
# work runs on another backend), one that is sound is kept.


@pytest.fixture
async def postgres() -> AsyncIterator[Database]:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        unreachable("DATABASE_URL (PostgreSQL) is needed: connections lost to the server")
    database = Database(
        Settings(
            _env_file=None,
            environment="test",
            database_url=url,
            db_pool_size=1,
            db_max_overflow=0,
            db_pool_timeout_seconds=0.2,
        )
    )
    yield database
    await database.dispose()


PID = select(func.pg_backend_pid().label("pid"))
SLEEP = select(func.pg_sleep(5).label("slept"))
SHORT_SLEEP = select(func.pg_sleep(0.5).label("slept"))
# What a statement gets when its connection is closed under it: cancelled first if the
# close is graceful (SQLAlchemy's), else the connection's end.
STATEMENT_CUT_SHORT = (asyncpg.QueryCanceledError, asyncpg.ConnectionDoesNotExistError)


async def backend_pid(database: Database) -> int:
    async with unit_of_work(database.sessionmaker) as session:
        pid = await session.scalar(PID)
    assert isinstance(pid, int)
    return pid


async def terminate_soon(database: Database, pid: int) -> None:
    await asyncio.sleep(0.2)  # the statement is under way
    url = database.engine.url.set(drivername="postgresql").render_as_string(False)
    killer = await asyncpg.connect(url)
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()


def verdict(error: BaseException) -> str | None:
    """The 503's detail for `error`, or None if it is not one."""
    unavailable = database_unavailable(error)
    return None if unavailable is None else unavailable.detail


@pytest.mark.parametrize("via", ["orm", "driver"])
async def test_a_connection_terminated_under_a_statement_is_discarded(
    postgres: Database, via: str, caplog: pytest.LogCaptureFixture
) -> None:
    pid = await backend_pid(postgres)
    with pytest.raises(DATABASE_ERRORS) as raised:
        async with unit_of_work(postgres.sessionmaker) as session:
            killing = asyncio.create_task(terminate_soon(postgres, pid))
            if via == "orm":
                await session.execute(SLEEP)
            else:
                await (await statements(session)).scalar(SLEEP)
    await killing
    assert verdict(raised.value) == UNAVAILABLE
    assert connection_lost(raised.value)
    # Discarded at once, without a rollback that could only fail.
    assert "rollback failed" not in caplog.text
    assert postgres.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await backend_pid(postgres) != pid


async def test_a_connection_left_in_the_middle_of_an_operation_is_discarded(
    postgres: Database,
) -> None:
    """asyncpg refuses a second statement while one runs ("another operation is in
    progress"): the first one's state is unknown, so the connection goes."""
    pid = await backend_pid(postgres)
    with pytest.raises(asyncpg.InterfaceError) as raised:
        async with unit_of_work(postgres.sessionmaker) as session:
            on = await statements(session)
            running = asyncio.create_task(on.scalar(SHORT_SLEEP))
            await asyncio.sleep(0.05)
            await on.scalar(PID)
    with pytest.raises(STATEMENT_CUT_SHORT):
        await running  # its connection was closed under it
    assert "another operation is in progress" in str(raised.value)
    assert verdict(raised.value) == UNAVAILABLE
    assert await backend_pid(postgres) != pid


async def test_sqlalchemy_invalidates_a_connection_it_finds_in_the_middle_of_an_operation(
    postgres: Database,
) -> None:
    """Its asyncpg dialect counts only a closed connection as a disconnect; the engine's
    handle_error listener (core/db.py) counts this one too."""
    pid = await backend_pid(postgres)
    with pytest.raises(sa_exc.DBAPIError) as raised:
        async with unit_of_work(postgres.sessionmaker) as session:
            running = asyncio.create_task((await statements(session)).scalar(SHORT_SLEEP))
            await asyncio.sleep(0.05)
            await session.execute(PID)
    with pytest.raises(STATEMENT_CUT_SHORT):
        await running
    assert raised.value.connection_invalidated
    assert verdict(raised.value) == UNAVAILABLE
    assert await backend_pid(postgres) != pid


@pytest.mark.parametrize("via", ["orm", "driver"])
async def test_a_statement_timeout_is_busy_and_keeps_the_connection(
    postgres: Database, via: str
) -> None:
    pid = await backend_pid(postgres)
    with pytest.raises(DATABASE_ERRORS) as raised:
        async with unit_of_work(postgres.sessionmaker) as session:
            await session.execute(text("SET LOCAL statement_timeout = 50"))
            if via == "orm":
                await session.execute(SLEEP)
            else:
                await (await statements(session)).scalar(SLEEP)
    assert verdict(raised.value) == DATABASE_BUSY
    assert not connection_lost(raised.value)
    assert await backend_pid(postgres) == pid


async def test_a_bug_is_not_an_outage_and_keeps_the_connection(postgres: Database) -> None:
    pid = await backend_pid(postgres)
    with pytest.raises(asyncpg.PostgresSyntaxError) as raw:
        async with unit_of_work(postgres.sessionmaker) as session:
            await (await statements(session)).run(text("SELEC 1"))
    with pytest.raises(sa_exc.ProgrammingError) as wrapped_by_the_orm:
        async with unit_of_work(postgres.sessionmaker) as session:
            await session.execute(text("SELEC 1"))
    assert verdict(raw.value) is verdict(wrapped_by_the_orm.value) is None
    assert await backend_pid(postgres) == pid


async def test_no_free_connection_in_time_is_busy(postgres: Database) -> None:
    async with unit_of_work(postgres.sessionmaker) as holding:
        await holding.execute(PID)  # the pool's one connection
        with pytest.raises(sa_exc.TimeoutError) as raised:
            async with unit_of_work(postgres.sessionmaker) as session:
                await session.execute(PID)
    assert verdict(raised.value) == DATABASE_BUSY
