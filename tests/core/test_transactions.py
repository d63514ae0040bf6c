"""The edge owns the transaction: commit before the response, effects only after it."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storefront.core.config import Settings
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.probe import ProbeNote, ProbeParent
from tests.fixtures.probe import router as probe_router

pytestmark = pytest.mark.anyio


async def test_success_commits_then_runs_effects(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.post("/_probe/notes", json={"body": "kept"})
    assert response.status_code == 201
    assert app.state.effects == ["kept"]
    count = await client.get("/_probe/notes/count")
    assert count.json() == {"count": 1}


async def test_error_after_write_rolls_back_and_drops_effects(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    response = await client.post("/_probe/notes", json={"body": "lost", "fail_after_write": True})
    assert response.status_code == 409
    assert app.state.effects == []
    count = await client.get("/_probe/notes/count")
    assert count.json() == {"count": 0}


@pytest.fixture
async def committing_client(
    settings: Settings, engine: AsyncEngine, probe_tables: None
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """An app on the real engine: its commits are real, so tests clean up after themselves."""
    app = create_app(settings)
    app.include_router(probe_router)
    app.state.effects = []
    async with running_client(app) as client:
        yield client, app
    async with engine.begin() as connection:
        await connection.execute(delete(ProbeNote))
        await connection.execute(delete(ProbeParent))


async def test_failed_commit_reaches_the_client_and_drops_effects(
    committing_client: tuple[httpx.AsyncClient, FastAPI], engine: AsyncEngine
) -> None:
    client, app = committing_client
    # The deferred foreign key passes the flush and fails only at COMMIT.
    response = await client.post("/_probe/notes", json={"body": "orphan", "parent_id": 404})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert app.state.effects == []
    async with engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(ProbeNote)) == 0


async def test_committed_write_is_visible_to_other_connections(
    committing_client: tuple[httpx.AsyncClient, FastAPI], engine: AsyncEngine
) -> None:
    client, app = committing_client
    response = await client.post("/_probe/notes", json={"body": "durable"})
    assert response.status_code == 201
    assert app.state.effects == ["durable"]
    async with engine.connect() as connection:
        assert await connection.scalar(select(ProbeNote.body)) == "durable"


async def test_waiting_for_a_connection_gives_up_with_a_503(
    settings: Settings, probe_tables: None
) -> None:
    tight = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.3}
    )
    app = create_app(tight)
    app.include_router(probe_router)
    async with running_client(app) as client:
        holder = asyncio.create_task(client.get("/_probe/hold", params={"seconds": 1.5}))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        waiter = await client.get("/_probe/hold", params={"seconds": 0})
        waited = time.monotonic() - started
        assert (await holder).status_code == 200
    assert waiter.status_code == 503
    assert waiter.json()["code"] == "SERVICE_UNAVAILABLE"
    assert waiter.headers["retry-after"] == "1"
    assert waited < 1.2
