"""The listing reads a page from where the previous one ended when the process knows it
(catalog/listing.py): the pages are the same as by offset, for every order, with ties,
and after items change."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog.listing import POSITIONS
from storefront.catalog.models import Item, ItemCount
from storefront.catalog.schemas import ItemSort
from storefront.core.db import Database
from storefront.core.local_cache import TRUST_SECONDS
from storefront.core.pubsub import Hub
from tests.catalog.test_items import admin, create

__all__ = ["admin"]

pytestmark = pytest.mark.anyio

PER_PAGE = 4


async def page(client: httpx.AsyncClient, number: int, **params: Any) -> list[int]:
    response = await client.get(
        "/api/v1/items", params={"per_page": PER_PAGE, "page": number, **params}
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def pages(client: httpx.AsyncClient, numbers: range, **params: Any) -> list[list[int]]:
    return [await page(client, number, **params) for number in numbers]


@pytest.fixture
async def category(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    """Eighteen items of a category of their own, with ties in name and price."""
    name = f"cat-{uuid.uuid4().hex[:8]}"
    for n in range(18):
        await create(
            client,
            admin,
            category=name,
            name=f"Same name {n % 3}",
            price=f"{1 + n % 4}.00",
        )
    return name


def known_positions(database: Database) -> int:
    return len(database.invalidations.cache(POSITIONS, ttl_seconds=60, max_entries=10_000))


async def delivery_confirmed(app_state: dict[str, Any]) -> None:
    """What a process remembers counts only while the hub confirms delivery (with Redis,
    a heartbeat's answer): wait for the first."""
    hub: Hub = app_state["hub"]
    async with asyncio.timeout(5):
        while hub.delivery_epoch(TRUST_SECONDS) is None:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("sort", list(ItemSort))
async def test_pages_read_from_where_the_last_ended_are_the_pages_by_offset(
    client: httpx.AsyncClient,
    database: Database,
    app_state: dict[str, Any],
    category: str,
    sort: ItemSort,
) -> None:
    await delivery_confirmed(app_state)
    numbers = range(1, 7)  # 18 items: four full pages, a half one, an empty one
    # Backwards, no page's start is known: every one is read by offset.
    by_offset = list(reversed(await pages(client, numbers[::-1], category=category, sort=sort)))
    # Meanwhile, where full pages end was learnt (each, unless a heartbeat came late).
    assert known_positions(database) >= 1
    # Forwards, each page starts there.
    by_position = await pages(client, numbers, category=category, sort=sort)
    assert by_position == by_offset
    assert sum(len(ids) for ids in by_position) == 18
    assert len({item for ids in by_position for item in ids}) == 18


async def test_a_new_item_moves_the_pages_after_it(
    client: httpx.AsyncClient, admin: dict[str, str], category: str
) -> None:
    # Newest first: every page starts one item later once another is created.
    before = await pages(client, range(1, 4), category=category)
    newest = await create(client, admin, category=category)
    after = await pages(client, range(1, 4), category=category)
    flat_before = [item for ids in before for item in ids]
    assert [item for ids in after for item in ids] == [newest["id"], *flat_before[:-1]]


async def test_a_deleted_item_moves_the_pages_after_it(
    client: httpx.AsyncClient, admin: dict[str, str], category: str
) -> None:
    before = await pages(client, range(1, 4), category=category)
    removed = before[0][0]
    assert (await client.delete(f"/api/v1/items/{removed}", headers=admin)).status_code == 204
    after = await pages(client, range(1, 4), category=category)
    flat_before = [item for ids in before for item in ids]
    assert [item for ids in after for item in ids] == flat_before[1:] + after[-1][-1:]


async def test_the_unfiltered_total_is_the_number_of_items(
    client: httpx.AsyncClient, admin: dict[str, str], session: AsyncSession
) -> None:
    async def listed_total() -> int:
        response = await client.get("/api/v1/items", params={"per_page": 1})
        return int(response.json()["total"])

    counted = await session.scalar(select(func.count()).select_from(Item))
    assert await listed_total() == counted
    created = await create(client, admin)
    assert await listed_total() == counted + 1
    assert (await client.delete(f"/api/v1/items/{created['id']}", headers=admin)).status_code == 204
    assert await listed_total() == counted
    assert await session.scalar(select(ItemCount.items)) == counted
