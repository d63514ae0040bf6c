"""What `storefront` tells its operator when a command cannot do its work: one message
naming the cause and the fix and a non-zero exit, never a traceback (unless
LOG_LEVEL=DEBUG), and JSON lines when the logs are JSON."""

import errno
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NoReturn

import orjson
import typer
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from storefront.core.config import ConfigurationError, Settings
from storefront.core.logging import flush_logs

MIGRATE_HINT = "run `storefront migrate` first (`make run` does)"
URL_EXAMPLES = (
    "sqlite+aiosqlite:///./var/storefront.db or postgresql+asyncpg://USER:PASSWORD@HOST:5432/NAME"
)


class OperatorError(Exception):
    """A mistake of the operator's; its message says what to do about it."""


class Output:
    def __init__(self, *, json_logs: bool = False, debug: bool = False) -> None:
        self.json_logs = json_logs
        self.debug = debug

    @classmethod
    def of(cls, settings: Settings) -> "Output":
        return cls(json_logs=settings.json_logs, debug=settings.log_level == "DEBUG")

    def say(self, message: str, *, level: str = "info", **fields: Any) -> None:
        if not self.json_logs:
            error = level != "info"
            color = {"error": typer.colors.RED, "warning": typer.colors.YELLOW}.get(level)
            typer.secho(message if not error else f"{level}: {message}", fg=color, err=error)
            return
        flush_logs()  # after what the loggers queued before
        line = {"event": message, "level": level, "logger": "storefront.cli", **fields}
        line["timestamp"] = datetime.now(UTC).isoformat()
        sys.stderr.write(orjson.dumps(line).decode() + "\n")
        sys.stderr.flush()

    def fail(self, message: str, *, code: int = 1) -> NoReturn:
        self.say(message, level="error")
        raise typer.Exit(code=code)

    @contextmanager
    def explained(self) -> Iterator[None]:
        try:
            yield
        except ConfigurationError as error:
            self.json_logs, self.debug = error.json_logs, error.debug
            if self.debug:
                raise
            self.say(f"{error}. Fix it in the environment or .env.", level="error")
            raise typer.Exit(code=2) from None
        except OperatorError as error:
            if self.debug:
                raise
            self.fail(str(error))


def _address(database_url: str) -> str:
    """Where the database is, without its password."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return "DATABASE_URL"
    if url.drivername.startswith("sqlite"):
        return f"{url.database or ':memory:'} (DATABASE_URL)"
    return f"{url.host}:{url.port or 5432}/{url.database} (DATABASE_URL)"


def _database_problem(error: BaseException, database_url: str) -> str | None:
    where = _address(database_url)
    if isinstance(error, ArgumentError):
        return f"DATABASE_URL is not a usable database URL ({error.args[0]}): use {URL_EXAMPLES}"
    if isinstance(error, ImportError):
        return f"DATABASE_URL needs the driver {error.name}, not installed: use {URL_EXAMPLES}"
    if isinstance(error, OSError):
        reason = error.strerror or "timed out"
        return f"cannot reach the database at {where}: {reason}; start it or correct DATABASE_URL"
    if isinstance(error, DBAPIError):
        reason = str(error.orig).splitlines()[0]
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            return f"the database at {where} is not migrated ({reason}): {MIGRATE_HINT}"
        return f"the database at {where} refused: {reason}; correct DATABASE_URL or the database"
    return None


@contextmanager
def database_errors(database_url: str) -> Iterator[None]:
    try:
        yield
    except (ArgumentError, ImportError, OSError, DBAPIError) as error:
        problem = _database_problem(error, database_url)
        if problem is None:
            raise
        raise OperatorError(problem) from error
    except CommandError as error:  # alembic's: an unknown revision
        raise OperatorError(
            f"cannot migrate: {error}; `storefront migrate` with no argument goes to the latest"
        ) from error


async def require_migrated(settings: Settings) -> None:
    from storefront.core.db import create_engine
    from storefront.core.migrations import alembic_config

    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(
                lambda sync: set(MigrationContext.configure(sync).get_current_heads())
            )
    finally:
        await engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config(settings.database_url)).get_heads())
    if current != heads:
        state = f"at {', '.join(sorted(current))}" if current else "not migrated"
        raise OperatorError(
            f"the database at {_address(settings.database_url)} is {state}, this version "
            f"needs {', '.join(sorted(heads))}: {MIGRATE_HINT}"
        )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything announces it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise OperatorError(
                f"cannot listen on {host}:{port}: the port is in use (another server, an "
                f"earlier `make run`?); stop it or choose another: --port N, make run PORT=N"
            ) from error
        reason = error.strerror or str(error)
        raise OperatorError(
            f"cannot listen on {host}:{port}: {reason}; check --host and --port"
        ) from error
    sock.set_inheritable(True)
    return sock
