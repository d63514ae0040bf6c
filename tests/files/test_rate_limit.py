from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.identity import user_headers

pytestmark = pytest.mark.anyio


@pytest.fixture
async def limited_client(
    settings: Settings, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    limited = settings.model_copy(update={"rate_limit_enabled": True})
    async with running_client(create_app(limited, database=database)) as client:
        yield client


async def test_file_routes_are_rate_limited_per_client(
    client: httpx.AsyncClient, limited_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, auth = await user_headers(client, session)

    response = await limited_client.get("/api/v1/files", headers=auth)

    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "300"
    assert int(response.headers["ratelimit-remaining"]) < 300
