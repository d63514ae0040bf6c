from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.core.config import Settings
from tests.fixtures.identity import user_headers
from tests.fixtures.uploads import PDF, form, headers


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Rate limits off: on the real Redis, budgets outlive a test, and these tests sign up
    and call far more than one client's minute allows. test_rate_limit.py turns them on."""
    return settings.model_copy(update={"rate_limit_enabled": False})


@pytest.fixture
async def owner(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await user_headers(client, session))[1]


@pytest.fixture
async def stranger(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await user_headers(client, session))[1]


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    return (await user_headers(client, session, admin=True))[1]


@pytest.fixture
def storage_dir(settings: Settings) -> Path:
    return settings.storage_dir


async def upload(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    content: bytes = PDF,
    *,
    filename: bytes = b"report.pdf",
    content_type: bytes | None = None,
) -> httpx.Response:
    return await client.post(
        "/api/v1/files",
        content=form(content, filename=filename, content_type=content_type),
        headers=headers(auth),
    )


async def uploaded(client: httpx.AsyncClient, auth: dict[str, str], **kwargs: Any) -> Any:
    response = await upload(client, auth, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()
