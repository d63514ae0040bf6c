"""Readiness turns 503 while a dependency is down and recovers by itself when it returns."""

import os
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from storefront.core.config import Settings
from storefront.main import create_app
from tests.conftest import running_client
from tests.fixtures.backends import unreachable
from tests.fixtures.proxy import TcpProxy

pytestmark = pytest.mark.anyio

CLOSED_PORT = 1


async def ready(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with running_client(app) as client:
        return await client.get("/health/ready")


async def test_unreachable_database_is_a_503_naming_the_check(settings: Settings) -> None:
    down = settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{CLOSED_PORT}/none"}
    )
    started = time.monotonic()
    response = await ready(down)
    assert time.monotonic() - started < settings.health_check_timeout_seconds + 1
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["database"] == "error"


async def test_unreachable_redis_is_a_503_naming_the_check(settings: Settings) -> None:
    response = await ready(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{CLOSED_PORT}/0"})
    )
    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "redis": "error", "storage": "ok"},
    }


@pytest.fixture
async def proxied_settings(
    settings: Settings,
) -> AsyncIterator[tuple[Settings, TcpProxy, TcpProxy]]:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgresql") or not redis_url:
        unreachable("DATABASE_URL (PostgreSQL) and REDIS_URL are needed to cut them off")
    database, redis = make_url(database_url), make_url(redis_url)
    db_proxy = TcpProxy(database.host or "127.0.0.1", database.port or 5432)
    redis_proxy = TcpProxy(redis.host or "127.0.0.1", redis.port or 6379)
    await db_proxy.start()
    await redis_proxy.start()
    proxied = settings.model_copy(
        update={
            "database_url": database.set(port=db_proxy.port).render_as_string(False),
            "redis_url": redis.set(port=redis_proxy.port).render_as_string(False),
            "health_check_timeout_seconds": 1.0,
        }
    )
    yield proxied, db_proxy, redis_proxy
    await db_proxy.cut()
    await redis_proxy.cut()


async def test_readiness_follows_dependencies_down_and_back(
    proxied_settings: tuple[Settings, TcpProxy, TcpProxy],
) -> None:
    settings, db_proxy, redis_proxy = proxied_settings
    app = create_app(settings)
    async with running_client(app) as client:
        assert (await client.get("/health/ready")).status_code == 200

        await db_proxy.cut()
        await redis_proxy.cut()
        down = await client.get("/health/ready")
        assert down.status_code == 503
        assert down.json()["checks"] == {"database": "error", "redis": "error", "storage": "ok"}
        assert (await client.get("/health/live")).status_code == 200

        await db_proxy.start()
        await redis_proxy.start()
        back = await client.get("/health/ready")
        assert back.status_code == 200, back.json()
        assert back.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}
