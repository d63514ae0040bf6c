"""SQLAlchemy Core statements, compiled once, run on the driver itself (PostgreSQL) or
through SQLAlchemy (SQLite): every statement is written once, in its domain's
repository, for both backends.

Measured on PostgreSQL (one item by id; wrk, one core, no middleware): an ORM session per
request ran at 0.11 of a bare FastAPI app, Core inside BEGIN … COMMIT at 0.15, Core on an
AUTOCOMMIT connection at 0.19 and the same statement on asyncpg's pool at 0.32; in a loop,
an AsyncSession.execute cost 200 µs of CPU and the same statement on asyncpg 52 µs. Hence:

- `Database.reads` runs single statements outside any unit of work, on asyncpg's own pool:
  no transaction (one statement sees one snapshot), no reset query on release;
- `statements(session)` runs them inside a unit of work, on its connection and in its
  transaction, next to the ORM.

Statements are module constants with `bindparam()`s: each is compiled once per process.
"""

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

# Re-exported: reads raise it, and it was defined here first.
from storefront.core.errors import DatabaseUnavailable as DatabaseUnavailable

logger = logging.getLogger("storefront.db")


class Row(Protocol):
    """A result row by column name: an asyncpg Record, a dict or SQLAlchemy's RowMapping."""

    def __getitem__(self, key: str, /) -> Any: ...


class Statements(ABC):
    dialect: Dialect

    @abstractmethod
    async def all(self, statement: Executable, /, **params: Any) -> Sequence[Row]:
        """The rows of a SELECT, or of a DML statement's RETURNING."""

    @abstractmethod
    async def run(self, statement: Executable, /, **params: Any) -> int:
        """Execute a statement that returns no rows; how many rows it changed."""

    @abstractmethod
    async def run_many(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute a statement once per parameter set, in one go (INSERT of many rows)."""

    async def one(self, statement: Executable, /, **params: Any) -> Row | None:
        rows = await self.all(statement, **params)
        return rows[0] if rows else None

    async def scalar(self, statement: Executable, /, **params: Any) -> Any:
        row = await self.one(statement, **params)
        return None if row is None else next(iter(row.values()))  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        return None


class EngineStatements(Statements):
    """Through SQLAlchemy Core: SQLite, and a test's connection. Bound to an engine it only
    reads, each statement on a connection of its own; bound to a connection, it runs in
    that connection's transaction (a unit of work's)."""

    def __init__(self, bind: AsyncEngine | AsyncConnection) -> None:
        self._bind = bind
        self.dialect = bind.dialect

    async def all(self, statement: Executable, /, **params: Any) -> Sequence[Row]:
        rows: Sequence[Row]
        if isinstance(self._bind, AsyncEngine):
            async with self._bind.connect() as connection:
                rows = (await connection.execute(statement, params)).mappings().all()
                return rows
        rows = (await self._bind.execute(statement, params)).mappings().all()
        return rows

    async def run(self, statement: Executable, /, **params: Any) -> int:
        result = await self._connection().execute(statement, params)
        return int(getattr(result, "rowcount", 0))

    async def run_many(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self._connection().execute(statement, list(rows))

    def _connection(self) -> AsyncConnection:
        if isinstance(self._bind, AsyncEngine):
            raise TypeError("changes belong in a unit of work: use statements(session)")
        return self._bind


Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    bind_processors: Mapping[str, Processor]
    keys: tuple[str, ...]
    # (column index, processor) for the columns whose values need converting.
    result_processors: tuple[tuple[int, Processor], ...]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = {**self.defaults, **params}
        processors = self.bind_processors
        return [
            processors[name](values[name]) if name in processors else values[name]
            for name in self.names
        ]

    def rows(self, records: list[asyncpg.Record]) -> Sequence[Row]:
        if not self.result_processors:
            return records
        return [self._processed(record) for record in records]

    def _processed(self, record: asyncpg.Record) -> dict[str, Any]:
        values = list(record.values())
        for index, processor in self.result_processors:
            values[index] = processor(values[index])
        return dict(zip(self.keys, values, strict=True))


def compile_for(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    names = tuple(name for name in compiled.positiontup or () if name is not None)
    binds = compiled.binds
    if any(bind.expanding for bind in binds.values()):
        raise ValueError("expanding IN parameters are not supported here")
    defaults = {
        name: bind.value for name, bind in binds.items() if not bind.required and name in names
    }
    bind_processors = {
        name: processor
        for name in names
        if (processor := binds[name].type.bind_processor(dialect)) is not None
    }
    columns = list(getattr(statement, "exported_columns", ()))
    result_processors = tuple(
        (index, processor)
        for index, column in enumerate(columns)
        if (processor := column.type.result_processor(dialect, None)) is not None
    )
    keys = tuple(column.key or f"column_{index}" for index, column in enumerate(columns))
    return _Compiled(compiled.string, names, defaults, bind_processors, keys, result_processors)


MAX_COMPILED = 1000


class Compiler:
    """Compiled statements by identity, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[int, tuple[Executable, _Compiled]] = {}

    def __call__(self, statement: Executable) -> _Compiled:
        found = self._compiled.get(id(statement))
        if found is not None and found[0] is statement:
            return found[1]
        compiled = compile_for(statement, self.dialect)
        if len(self._compiled) >= MAX_COMPILED:
            # Statements are meant to be constants: many distinct ones are a caller's bug,
            # which must cost time, not memory.
            logger.warning("more than %d distinct statements compiled", MAX_COMPILED)
            self._compiled.clear()
        # Keeps the statement alive, so that its id is not reused by another one.
        self._compiled[id(statement)] = (statement, compiled)
        return compiled


_COMPILERS: dict[int, tuple[Dialect, Compiler]] = {}


def compiler_for(dialect: Dialect) -> Compiler:
    """One compiler per dialect object (an engine's): statements compile once each."""
    found = _COMPILERS.get(id(dialect))
    if found is None or found[0] is not dialect:
        found = (dialect, Compiler(dialect))
        _COMPILERS[id(dialect)] = found
    return found[1]


class Driver(Protocol):
    """An asyncpg connection, or a pool's proxy of one."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...

    async def execute(self, query: str, *args: Any) -> str: ...

    async def executemany(self, command: str, args: Any) -> None: ...


def _count(status: str) -> int:
    """Rows changed, from asyncpg's command tag ("UPDATE 3", "INSERT 0 1")."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


class DriverStatements(Statements):
    """On one asyncpg connection: a unit of work's, in its transaction."""

    def __init__(self, compiler: Compiler, driver: Driver) -> None:
        self._compile = compiler
        self._driver = driver
        self.dialect = compiler.dialect

    async def all(self, statement: Executable, /, **params: Any) -> Sequence[Row]:
        compiled = self._compile(statement)
        return compiled.rows(await self._driver.fetch(compiled.sql, *compiled.arguments(params)))

    async def run(self, statement: Executable, /, **params: Any) -> int:
        compiled = self._compile(statement)
        return _count(await self._driver.execute(compiled.sql, *compiled.arguments(params)))

    async def run_many(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        compiled = self._compile(statement)
        await self._driver.executemany(compiled.sql, [compiled.arguments(row) for row in rows])


# A connection lost under a statement, or a server that is restarting or shutting down:
# another connection may work (a read is safe to repeat), and if not, a 503.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    # A connection left unusable ("cannot switch to state …"), its server gone meanwhile.
    asyncpg.InternalClientError,
)
Acquire = Callable[[], AbstractAsyncContextManager[Driver]]


class ReadStatements(Statements):
    """Reads outside any unit of work, each on a connection of its own from `acquire`,
    repeated once on another connection when the first was lost."""

    def __init__(self, compiler: Compiler, acquire: Acquire) -> None:
        self._compile = compiler
        self._acquire = acquire
        self.dialect = compiler.dialect

    async def all(self, statement: Executable, /, **params: Any) -> Sequence[Row]:
        compiled = self._compile(statement)
        args = compiled.arguments(params)
        try:
            return compiled.rows(await self._fetch(compiled.sql, args))
        except CONNECTION_ERRORS as error:
            logger.warning("read failed on a lost connection; retrying once: %r", error)
            try:
                return compiled.rows(await self._fetch(compiled.sql, args))
            except CONNECTION_ERRORS as again:
                raise DatabaseUnavailable() from again

    async def _fetch(self, sql: str, args: list[Any]) -> list[asyncpg.Record]:
        try:
            async with self._acquire() as connection:
                return await connection.fetch(sql, *args)
        except TimeoutError as error:  # no free connection in time, or a slow server
            raise DatabaseUnavailable("The database is busy; retry shortly.") from error
        except asyncpg.QueryCanceledError as error:
            raise DatabaseUnavailable("The database is busy; retry shortly.") from error

    async def run(self, statement: Executable, /, **params: Any) -> int:
        raise TypeError("changes belong in a unit of work: use statements(session)")

    async def run_many(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        raise TypeError("changes belong in a unit of work: use statements(session)")


class PoolReads(ReadStatements):
    """Reads on an asyncpg pool of their own, opened at the first read; its connections
    also serve the units of work that need no ORM session (core/db.py `transaction`)."""

    def __init__(
        self,
        compiler: Compiler,
        connect: Callable[[], Awaitable[asyncpg.Pool]],
        *,
        size: int,
        acquire_timeout: float,
    ) -> None:
        super().__init__(compiler, self._pooled)
        self._connect = connect
        self._acquire_timeout = acquire_timeout
        # Connections in the order they were asked for. asyncpg's pool hands a released
        # connection to whoever asks next, before the waiter it wakes runs, and that
        # waiter queues again at the back: at 256 connections a read waited from 24 ms
        # (median) to 1.8 s. asyncio's semaphore serves its waiters first come, first served.
        self._turns = asyncio.Semaphore(size)
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def _pooled(self) -> AsyncIterator[Driver]:
        async with self.connection() as connection:
            yield connection

    @asynccontextmanager
    async def connection(self) -> AsyncIterator["asyncpg.pool.PoolConnectionProxy[Any]"]:
        """A connection of the pool; DatabaseUnavailable when none comes in time."""
        try:
            async with asyncio.timeout(self._acquire_timeout):
                await self._turns.acquire()
        except TimeoutError as error:
            raise DatabaseUnavailable("The database is busy; retry shortly.") from error
        try:
            try:
                pool = self._pool or await self._open()
                holder = pool.acquire(timeout=self._acquire_timeout)
                connection = await holder.__aenter__()
            except TimeoutError as error:
                raise DatabaseUnavailable("The database is busy; retry shortly.") from error
            except CONNECTION_ERRORS as error:
                raise DatabaseUnavailable() from error
            try:
                yield connection
            finally:
                await holder.__aexit__(None, None, None)
        finally:
            self._turns.release()

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await self._connect()
            return self._pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
