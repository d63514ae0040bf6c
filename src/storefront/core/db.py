"""The engine, the unit of work per request, and side effects that wait for the commit."""

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import Depends
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolProxiedConnection, StaticPool
from starlette.requests import HTTPConnection

from storefront.core.config import Settings
from storefront.core.effects import AfterCommit, after_commit, pop_effects, run_effects
from storefront.core.errors import connection_lost
from storefront.core.invalidation import SESSION_INFO_KEY, Invalidations
from storefront.core.pubsub.hub import Hub
from storefront.core.statements import (
    CONNECTION_ERRORS,
    Compiler,
    DatabaseUnavailable,
    DriverStatements,
    EngineStatements,
    PoolReads,
    Statements,
    compiler_for,
)

__all__ = [
    "AfterCommit",
    "Database",
    "DbReads",
    "DbSession",
    "Transaction",
    "Work",
    "after_commit",
    "statements",
    "transaction",
    "unit_of_work",
]

SQLITE_BEGIN = "storefront_sqlite_begin"
STATEMENTS_KEY = "storefront.statements"
HUB_KEY = "storefront.hub"

logger = logging.getLogger("storefront.db")


def _server_options(settings: Settings) -> dict[str, Any]:
    """asyncpg's connection options, for SQLAlchemy's pool and the read pool alike."""
    statement_timeout_ms = int(settings.db_statement_timeout_seconds * 1000)
    return {
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_statement_timeout_seconds,
        "server_settings": {
            "application_name": "storefront",
            "statement_timeout": str(statement_timeout_ms),
            "idle_in_transaction_session_timeout": str(statement_timeout_ms * 2),
        },
    }


def _engine_options(settings: Settings) -> dict[str, Any]:
    pool = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_pool_timeout_seconds,
    }
    if settings.is_sqlite:
        connect_args = {"timeout": settings.db_connect_timeout_seconds}
        if make_url(settings.database_url).database in (None, "", ":memory:"):
            # One shared connection, or each checkout would see its own empty database.
            return {"poolclass": StaticPool, "connect_args": connect_args}
        # A file has no server to lose the connection: no ping before each checkout (on
        # aiosqlite every statement is a round trip to its thread).
        return {**pool, "connect_args": connect_args}
    return {
        **pool,
        # No ping before each checkout (a round trip per unit of work): a connection the
        # server closed is known to asyncpg already (see _refuse_closed).
        "pool_recycle": 1800,
        "connect_args": _server_options(settings),
    }


def _refuse_closed(_: Any, __: Any, proxy: PoolProxiedConnection) -> None:
    """A connection whose server went away (a restart, a shutdown, a killed backend) is
    closed on asyncpg's side as soon as the socket says so: swap it, and every connection
    older than it, for new ones before anyone uses it."""
    driver = proxy.driver_connection
    if driver is not None and driver.is_closed():
        error = DisconnectionError("connection closed by the server")
        error.invalidate_pool = True
        raise error


def _invalidate_lost(context: ExceptionContext) -> None:
    """SQLAlchemy's asyncpg dialect calls an error a disconnect only once asyncpg has seen
    the socket close; the server's goodbye (57P01, 57P02) can come first, and a connection
    left in the middle of an operation is still open. Those are lost too: invalidate them
    rather than hand them back to the pool."""
    if not context.is_disconnect and connection_lost(context.original_exception):
        context.is_disconnect = True


def _sqlite_on_connect(dbapi_connection: Any, _: Any) -> None:
    # pysqlite's own transaction handling delays BEGIN and breaks SAVEPOINT semantics;
    # SQLAlchemy emits BEGIN itself instead (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "")
    connection.exec_driver_sql(f"BEGIN {mode}".strip())


def ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(settings: Settings) -> AsyncEngine:
    ensure_sqlite_directory(settings.database_url)
    engine = create_async_engine(settings.database_url, **_engine_options(settings))
    if settings.is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    else:
        event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
        event.listen(engine.sync_engine, "handle_error", _invalidate_lost)
    return engine


class Database:
    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings)
        self.is_sqlite = settings.is_sqlite
        units = self.engine
        if settings.is_sqlite:
            # Units of work take SQLite's write lock up front (waiting up to busy_timeout).
            # A deferred transaction that reads and then writes fails at once with
            # "database is locked" when another writer committed in between (SQLite
            # cannot upgrade its stale snapshot): concurrent orders became 503s. SQLite
            # is the one-process embedded mode; serialising its units costs little there.
            # Plain connections (readiness checks) stay deferred: they only read.
            units = self.engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        self.invalidations = Invalidations()
        self.compiler = compiler_for(self.engine.dialect)
        # What every unit of work carries, so that anything inside one can register an
        # effect after its commit (a cache invalidation, a live message) without being
        # handed the cache or the hub.
        self.session_info: dict[str, Any] = {SESSION_INFO_KEY: self.invalidations}
        self.sessionmaker = async_sessionmaker(
            units, expire_on_commit=False, info=self.session_info
        )
        self.reads: Statements = _reads(self.engine, self.compiler, settings)

    async def attach(self, hub: Hub) -> None:
        self.session_info[HUB_KEY] = hub
        await self.invalidations.attach(hub)

    async def dispose(self) -> None:
        await self.reads.aclose()
        await self.engine.dispose()


# Options of SQLAlchemy's asyncpg adapter that asyncpg itself does not take.
_ADAPTER_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func")


async def _keep_session(_: asyncpg.Connection) -> None:
    """Reads change nothing in a session (no SET, LISTEN, cursor or lock): releasing a
    connection needs no reset query, which was a second round trip per read."""


def _reads(engine: AsyncEngine, compiler: Compiler, settings: Settings) -> Statements:
    if settings.is_sqlite:
        return EngineStatements(engine)
    _, url_options = engine.dialect.create_connect_args(engine.url)
    for name in _ADAPTER_OPTIONS:
        url_options.pop(name, None)
    options = {**url_options, **_server_options(settings)}

    def connect() -> Awaitable[asyncpg.Pool]:
        # Idle connections close after a while; none are opened before the first read.
        return asyncpg.create_pool(
            min_size=0,
            max_size=settings.db_read_pool_size,
            max_inactive_connection_lifetime=300,
            reset=_keep_session,
            **options,
        )

    return PoolReads(
        compiler,
        connect,
        size=settings.db_read_pool_size,
        acquire_timeout=settings.db_pool_timeout_seconds,
    )


async def _rollback(session: AsyncSession) -> None:
    # Explicit: SQLite keeps a transaction open after a failed COMMIT (deferred
    # constraints), and closing the session alone would hand it back to the pool.
    try:
        await session.rollback()
    except Exception:
        logger.warning("rollback failed; discarding the connection", exc_info=True)
        await session.invalidate()


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block succeeds, rolled back on any error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException as error:
            pop_effects(session)
            if connection_lost(error):
                # Also asyncpg's own errors, from statements(session), which SQLAlchemy
                # never saw: the connection is discarded, not rolled back and reused.
                await session.invalidate()
            else:
                await _rollback(session)
            raise
        effects = pop_effects(session)
    await run_effects(effects)


class Transaction:
    """A unit of work of Core statements alone, with no ORM session: on PostgreSQL a
    connection of asyncpg's pool in a transaction of its own. Measured: about 115 µs of
    CPU for a statement in a transaction this way, 380-500 µs in an AsyncSession's."""

    __slots__ = ("info", "statements")

    def __init__(self, statements: Statements, info: dict[str, Any]) -> None:
        self.statements = statements
        self.info = info


Work = AsyncSession | Transaction


@asynccontextmanager
async def transaction(database: "Database") -> AsyncIterator[Transaction]:
    """One transaction of statements: committed when the block succeeds, rolled back on
    any error; effects after the commit, as `unit_of_work`. For routes that need no ORM,
    opened by the route itself (the edge), so that it commits before the response."""
    reads = database.reads
    if not isinstance(reads, PoolReads):  # SQLite, or a test's connection
        async with unit_of_work(database.sessionmaker) as session:
            yield Transaction(await statements(session), session.info)
        return
    async with reads.connection() as connection:
        info = dict(database.session_info)
        work = Transaction(DriverStatements(database.compiler, connection), info)
        began = connection.transaction()
        try:
            await began.start()
        except CONNECTION_ERRORS as error:
            raise DatabaseUnavailable() from error
        try:
            yield work
            await began.commit()
        except BaseException:
            pop_effects(work)
            await _roll_back(began, connection)
            raise
    await run_effects(pop_effects(work))


async def _roll_back(began: Any, connection: Any) -> None:
    try:
        await began.rollback()
    except Exception as error:
        # A connection that cannot roll back cannot be trusted with the next request (if
        # it is lost, asyncpg's pool has let go of it already).
        logger.warning("rollback failed; discarding the connection: %s", type(error).__name__)
        with contextlib.suppress(Exception):
            connection.terminate()


async def statements(work: Work) -> Statements:
    """Core statements in the unit of work `work`: on its connection, in its
    transaction, beside the ORM; on PostgreSQL straight on asyncpg (core/statements.py)."""
    if isinstance(work, Transaction):
        return work.statements
    session = work
    found: Statements | None = session.info.get(STATEMENTS_KEY)
    if found is not None:
        return found
    connection = await session.connection()
    if connection.dialect.driver != "asyncpg":
        found = EngineStatements(connection)
    else:
        compiler = compiler_for(connection.dialect)
        found = DriverStatements(compiler, await _in_transaction(connection))
    session.info[STATEMENTS_KEY] = found
    return found


async def _in_transaction(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection`, its transaction begun on the server.

    SQLAlchemy's asyncpg adapter sends BEGIN with its first statement; a statement of
    ours must not run before it, or it would commit on its own. This is the one place
    that knows the adapter's inside (tests/core/test_statements.py holds it to that)."""
    raw = await connection.get_raw_connection()
    adapter = raw.dbapi_connection
    if getattr(adapter, "_transaction", None) is None:
        await adapter._start_transaction()  # type: ignore[union-attr]
    return raw.driver_connection


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(connection: HTTPConnection) -> AsyncIterator[AsyncSession]:
    database: Database = connection.state.database
    async with unit_of_work(database.sessionmaker) as session:
        if (
            database.is_sqlite
            and connection.scope.get("method") in SAFE_METHODS
            and isinstance(session.bind, AsyncEngine)
        ):
            # A safe request only reads: a deferred transaction lets SQLite's readers run
            # side by side instead of queueing for the write lock (which held an
            # authenticated GET to 7 % of bare FastAPI's throughput).
            await session.connection(execution_options={SQLITE_BEGIN: "DEFERRED"})
        yield session


async def get_reads(connection: HTTPConnection) -> Statements:
    database: Database = connection.state.database
    return database.reads


DbReads = Annotated[Statements, Depends(get_reads)]


async def get_invalidations(connection: HTTPConnection) -> Invalidations:
    database: Database = connection.state.database
    return database.invalidations


DbInvalidations = Annotated[Invalidations, Depends(get_invalidations)]

# scope="function" closes the unit of work before the response is sent, so a failed
# commit still reaches the client as an error instead of a silently lost write.
DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
