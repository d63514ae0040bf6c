"""The resize job when uploads race or the item goes: the latest upload always wins,
and whatever nobody refers to any more is deleted."""

import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog import image_service
from storefront.catalog.image_service import ResizeImage
from storefront.catalog.models import Item
from storefront.catalog.tasks import resize_image
from storefront.core.config import Settings
from storefront.core.db import Database
from storefront.core.storage import LocalStorage, create_storage
from storefront.jobs.registry import JobContext, PermanentJobError
from tests.fixtures.identity import user_headers
from tests.fixtures.storage import stored_keys

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Rate limits off: on the real Redis, budgets outlive a test (see tests/files)."""
    return settings.model_copy(update={"rate_limit_enabled": False})


@pytest.fixture
async def item_id(client: httpx.AsyncClient, session: AsyncSession) -> int:
    _, admin = await user_headers(client, session, admin=True)
    response = await client.post(
        "/api/v1/items",
        json={
            "sku": f"RACE-{uuid.uuid4().hex[:8]}",
            "name": "Vase",
            "category": "home",
            "price": 9,
        },
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return create_storage(settings)


@pytest.fixture
def context(settings: Settings, database: Database, app_state: dict[str, Any]) -> JobContext:
    return JobContext(
        settings=settings,
        database=database,
        queue=app_state["jobs"].queue,
        job_id=str(uuid.uuid4()),
        attempt=1,
        max_attempts=3,
    )


async def store_png(storage: LocalStorage, size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, "PNG")

    async def once() -> AsyncIterator[bytes]:
        yield buffer.getvalue()

    return (await storage.save(once())).key


async def accept(
    session: AsyncSession, context: JobContext, storage: LocalStorage, item_id: int, key: str
) -> None:
    """An upload recorded, its job not run (the test runs it, in the order it wants)."""
    await image_service.accept_upload(
        session, item_id, original_key=key, queue=context.queue, storage=storage
    )
    session.info.clear()  # no after-commit effects: no job sent, nothing deleted yet
    await session.commit()


async def served_size(session: AsyncSession, storage: LocalStorage, item_id: int) -> Any:
    item = await session.get(Item, item_id, populate_existing=True)
    assert item is not None
    if item.image_key is None:
        return None
    return Image.open(storage.path(item.image_key)).size


async def test_an_older_upload_finishing_last_never_replaces_the_newer_one(
    session: AsyncSession,
    context: JobContext,
    storage: LocalStorage,
    settings: Settings,
    item_id: int,
) -> None:
    older = await store_png(storage, (30, 30))
    newer = await store_png(storage, (60, 60))
    await accept(session, context, storage, item_id, older)
    await accept(session, context, storage, item_id, newer)

    await resize_image(context, ResizeImage(item_id=item_id, original_key=older))

    assert await served_size(session, storage, item_id) is None
    assert stored_keys(settings.storage_dir) == {newer}  # its renditions and original: gone

    await resize_image(context, ResizeImage(item_id=item_id, original_key=newer))

    assert await served_size(session, storage, item_id) == (60, 60)
    after_newer = stored_keys(settings.storage_dir)
    assert len(after_newer) == 3 and newer in after_newer

    # The older job delivered once more: its original is gone, it is superseded, no-op.
    await resize_image(context, ResizeImage(item_id=item_id, original_key=older))

    assert await served_size(session, storage, item_id) == (60, 60)
    assert stored_keys(settings.storage_dir) == after_newer


async def test_a_job_for_a_deleted_item_cleans_up_after_itself(
    client: httpx.AsyncClient,
    session: AsyncSession,
    context: JobContext,
    storage: LocalStorage,
    settings: Settings,
    item_id: int,
) -> None:
    key = await store_png(storage, (30, 30))
    await accept(session, context, storage, item_id, key)
    item = await session.get(Item, item_id)
    await session.delete(item)
    await session.commit()

    await resize_image(context, ResizeImage(item_id=item_id, original_key=key))

    assert stored_keys(settings.storage_dir) == set()


async def test_a_missing_original_of_the_current_upload_fails_the_job_for_good(
    session: AsyncSession,
    context: JobContext,
    storage: LocalStorage,
    item_id: int,
) -> None:
    key = await store_png(storage, (30, 30))
    await accept(session, context, storage, item_id, key)
    await storage.delete(key)

    with pytest.raises(PermanentJobError, match="original is missing"):
        await resize_image(context, ResizeImage(item_id=item_id, original_key=key))

    item = await session.get(Item, item_id, populate_existing=True)
    assert item is not None and item.image_original_key is None
