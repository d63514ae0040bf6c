"""On PostgreSQL a request holding an Idempotency-Key is marked by an advisory lock: a
duplicate arriving meanwhile is refused with 409 at once instead of waiting. (SQLite runs
one write transaction at a time, so there a duplicate waits and replays instead.)"""

import os
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storefront.core import migrations
from storefront.core.config import Settings
from storefront.main import create_app
from storefront.orders.idempotency import lock_id
from tests.conftest import running_client
from tests.fixtures.backends import unreachable
from tests.fixtures.identity import PASSWORD

pytestmark = pytest.mark.anyio


@pytest.fixture
async def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        unreachable("DATABASE_URL (PostgreSQL) is needed for advisory locks")
    await anyio.to_thread.run_sync(migrations.upgrade, url)
    return url


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_url)
    yield engine
    await engine.dispose()


async def test_a_duplicate_of_a_running_request_is_409(
    postgres_url: str, postgres: AsyncEngine
) -> None:
    settings = Settings(
        _env_file=None,
        environment="test",
        database_url=postgres_url,
        jobs_inline=True,
        # Not what this test is about; on the shared Redis other tests' budgets count.
        rate_limit_enabled=False,
    )
    email = f"lock-{uuid.uuid4().hex[:10]}@example.com"
    key = f"key-{uuid.uuid4()}"
    async with running_client(create_app(settings)) as client:
        signed_up = await client.post(
            "/api/v1/users", json={"email": email, "password": PASSWORD, "full_name": "L"}
        )
        token = await client.post(
            "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        held = lock_id(signed_up.json()["id"], key)
        async with postgres.connect() as first_request:
            # What the first request holds while it runs.
            await first_request.execute(select(func.pg_advisory_lock(held)))
            response = await client.post(
                "/api/v1/orders",
                json={"lines": [{"item_id": 1, "quantity": 1}]},
                headers={**headers, "Idempotency-Key": key},
            )
            await first_request.execute(select(func.pg_advisory_unlock(held)))

    assert response.status_code == 409
    assert response.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
