"""Reads outside a unit of work: a SQLAlchemy Core statement, compiled once, run as one
statement on the driver's own pool (PostgreSQL) or through the engine (SQLite).

A read needs no transaction: one statement sees one snapshot. Measured here with wrk
against one item by random id on PostgreSQL, without middleware: an ORM session per
request ran at 0.11 of a bare FastAPI app, Core on a pooled connection inside
BEGIN … COMMIT at 0.15, Core on an AUTOCOMMIT connection at 0.19 and the same statement
on asyncpg's own pool at 0.32. So reads take the driver's path, while every statement is
still written once, with SQLAlchemy, in its domain's repository, for both backends.

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
from sqlalchemy.sql import Select

from storefront.core.errors import ServiceUnavailable

logger = logging.getLogger("storefront.db")


class Row(Protocol):
    """A result row by column name: an asyncpg Record, a dict or SQLAlchemy's RowMapping."""

    def __getitem__(self, key: str, /) -> Any: ...


class DatabaseUnavailable(ServiceUnavailable):
    default_detail = "The database is unavailable; retry shortly."


class Reads(ABC):
    """Single statements that only read; see the module docstring."""

    @abstractmethod
    async def all(self, statement: Select[Any], /, **params: Any) -> Sequence[Row]: ...

    async def one(self, statement: Select[Any], /, **params: Any) -> Row | None:
        rows = await self.all(statement, **params)
        return rows[0] if rows else None

    async def scalar(self, statement: Select[Any], /, **params: Any) -> Any:
        row = await self.one(statement, **params)
        return None if row is None else next(iter(_values(row)))

    async def aclose(self) -> None:
        return None


def _values(row: Row) -> Any:
    values = getattr(row, "values", None)
    return values() if callable(values) else row


class EngineReads(Reads):
    """Through SQLAlchemy (SQLite, or a test's connection): the same statements, with
    SQLAlchemy's own execution."""

    def __init__(self, bind: AsyncEngine | AsyncConnection) -> None:
        self._bind = bind

    async def all(self, statement: Select[Any], /, **params: Any) -> Sequence[Row]:
        rows: Sequence[Row]
        if isinstance(self._bind, AsyncConnection):
            rows = (await self._bind.execute(statement, params)).mappings().all()
            return rows
        async with self._bind.connect() as connection:
            rows = (await connection.execute(statement, params)).mappings().all()
            return rows


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


def compile_for(statement: Select[Any], dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    names = tuple(name for name in compiled.positiontup or () if name is not None)
    binds = compiled.binds
    if any(bind.expanding for bind in binds.values()):
        raise ValueError("expanding IN parameters are not supported by Reads")
    defaults = {
        name: bind.value for name, bind in binds.items() if not bind.required and name in names
    }
    bind_processors = {
        name: processor
        for name in names
        if (processor := binds[name].type.bind_processor(dialect)) is not None
    }
    columns = list(statement.selected_columns)
    result_processors = tuple(
        (index, processor)
        for index, column in enumerate(columns)
        if (processor := column.type.result_processor(dialect, None)) is not None
    )
    return _Compiled(
        compiled.string,
        names,
        defaults,
        bind_processors,
        tuple(column.key or f"column_{index}" for index, column in enumerate(columns)),
        result_processors,
    )


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
)
MAX_COMPILED = 1000


class Fetcher(Protocol):
    """An asyncpg connection, or a pool's proxy of one."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...


Acquire = Callable[[], AbstractAsyncContextManager[Fetcher]]


class AsyncpgReads(Reads):
    def __init__(self, dialect: Dialect, acquire: Acquire) -> None:
        self._dialect = dialect
        self._acquire = acquire
        self._compiled: dict[int, tuple[Select[Any], _Compiled]] = {}

    def _compile(self, statement: Select[Any]) -> _Compiled:
        found = self._compiled.get(id(statement))
        if found is not None and found[0] is statement:
            return found[1]
        compiled = compile_for(statement, self._dialect)
        if len(self._compiled) >= MAX_COMPILED:
            # Statements are meant to be constants: many distinct ones are a caller's bug,
            # which must cost time, not memory.
            logger.warning("more than %d distinct statements read", MAX_COMPILED)
            self._compiled.clear()
        # Keeps the statement alive, so that its id is not reused by another one.
        self._compiled[id(statement)] = (statement, compiled)
        return compiled

    async def all(self, statement: Select[Any], /, **params: Any) -> Sequence[Row]:
        compiled = self._compile(statement)
        args = _arguments(compiled, params)
        try:
            rows = await self._fetch(compiled.sql, args)
        except CONNECTION_ERRORS as error:
            logger.warning("read failed on a lost connection; retrying once: %r", error)
            try:
                rows = await self._fetch(compiled.sql, args)
            except CONNECTION_ERRORS as again:
                raise DatabaseUnavailable() from again
        if not compiled.result_processors:
            return rows
        return [_processed(compiled, row) for row in rows]

    async def _fetch(self, sql: str, args: list[Any]) -> list[asyncpg.Record]:
        try:
            async with self._acquire() as connection:
                rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
                return rows
        except TimeoutError as error:  # no free connection in time, or a slow server
            raise DatabaseUnavailable("The database is busy; retry shortly.") from error
        except asyncpg.QueryCanceledError as error:
            raise DatabaseUnavailable("The database is busy; retry shortly.") from error


def _arguments(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
    values = {**compiled.defaults, **params}
    processors = compiled.bind_processors
    return [
        processors[name](values[name]) if name in processors else values[name]
        for name in compiled.names
    ]


def _processed(compiled: _Compiled, row: asyncpg.Record) -> dict[str, Any]:
    values = list(row.values())
    for index, processor in compiled.result_processors:
        values[index] = processor(values[index])
    return dict(zip(compiled.keys, values, strict=True))


class PoolReads(AsyncpgReads):
    """AsyncpgReads on a pool of its own, opened at the first read."""

    def __init__(
        self,
        dialect: Dialect,
        connect: Callable[[], Awaitable[asyncpg.Pool]],
        *,
        acquire_timeout: float,
    ) -> None:
        super().__init__(dialect, self._pooled)
        self._connect = connect
        self._acquire_timeout = acquire_timeout
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def _pooled(self) -> AsyncIterator[Fetcher]:
        pool = self._pool or await self._open()
        async with pool.acquire(timeout=self._acquire_timeout) as connection:
            yield connection

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await self._connect()
            return self._pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
