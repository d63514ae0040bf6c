from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.probe import ProbeBase
from tests.fixtures.probe import router as probe_router


@pytest.fixture(scope="session")
async def probe_tables(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as connection:
        await connection.run_sync(ProbeBase.metadata.create_all)
    yield
    async with engine.begin() as connection:
        await connection.run_sync(ProbeBase.metadata.drop_all)


@pytest.fixture
def app(app: FastAPI, probe_tables: None) -> FastAPI:
    app.include_router(probe_router)
    app.state.effects = []
    return app
