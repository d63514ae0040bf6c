"""Schemathesis drives every operation of the live OpenAPI document against a real server."""

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storefront.core import migrations
from storefront.core.config import Settings
from storefront.main import create_app
from tests.fixtures.backends import Backend

STARTUP_TIMEOUT_SECONDS = 15
MAX_EXAMPLES = 30


async def _administer(url: str, statement: str) -> None:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await admin.dispose()


@pytest.fixture(scope="module")
def live_database(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own: the live server commits what it is sent (accounts, their
    queued mails…), which the other tests' database must not see."""
    if not backend.is_postgres:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('live') / 'live.db'}"
        return
    name = f"storefront_live_{uuid.uuid4().hex[:12]}"
    asyncio.run(_administer(backend.database_url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(backend.database_url).set(database=name).render_as_string(False)
    finally:
        asyncio.run(
            _administer(backend.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


@pytest.fixture(scope="module")
def live_server(backend: Backend, live_database: str) -> Iterator[str]:
    migrations.upgrade(live_database)
    app = create_app(
        Settings(
            _env_file=None,
            environment="test",
            database_url=live_database,
            redis_url=backend.redis_url,
            # Its own budgets: it must not spend (or inherit) other tests' on the shared Redis.
            rate_limit_key_prefix=f"test:{uuid.uuid4().hex}:ratelimit",
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_every_operation_honours_its_schema(live_server: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    failures: dict[str, str] = {}
    tested = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures[f"invalid operation {tested}"] = str(result.err())
            continue
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            case.call_and_validate(base_url=live_server)

        try:
            exercise()
        except Exception as failure:
            failures[operation.label] = str(failure)[:2000]
        tested += 1
    assert tested >= 4
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
