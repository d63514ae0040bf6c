"""Catalog rules: one service behind API v1 and v2."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog import repository
from storefront.catalog.errors import ItemInUse, ItemNotFound, OutOfStock, SkuTaken
from storefront.catalog.models import Item
from storefront.catalog.repository import ItemFilters
from storefront.catalog.schemas import ItemCreate, ItemRead, ItemUpdate
from storefront.catalog.search import search_query
from storefront.core.cache import AppCache
from storefront.core.db import after_commit
from storefront.core.storage import LocalStorage
from storefront.kit.money import to_minor
from storefront.kit.pagination import PageParams, PageResult, fetch_page

POPULAR_KEY = "catalog:popular"
POPULAR_TAG = "catalog:units-sold"
POPULAR_SIZE = 10
POPULAR_TTL_SECONDS = 300


async def get(session: AsyncSession, item_id: int) -> Item:
    item = await repository.get(session, item_id)
    if item is None:
        raise ItemNotFound()
    return item


async def list_items(
    session: AsyncSession, *, filters: ItemFilters, params: PageParams
) -> PageResult[Item]:
    return await fetch_page(session, repository.filtered(filters), params)


async def search(session: AsyncSession, *, q: str, params: PageParams) -> PageResult[Item]:
    query = search_query(session, q)
    if query is None:
        return PageResult(rows=[], total=0, params=params)
    return await fetch_page(session, query, params)


async def create(session: AsyncSession, *, data: ItemCreate) -> Item:
    if await repository.get_by_sku(session, data.sku) is not None:
        raise SkuTaken()
    item = Item(
        sku=data.sku,
        name=data.name,
        description=data.description,
        category=data.category,
        price_minor=to_minor(data.price),
        currency=data.currency,
        stock=data.stock,
        units_sold=0,
    )
    session.add(item)
    await _flush_unique_sku(session)
    await session.refresh(item)
    return item


async def update(session: AsyncSession, item: Item, *, changes: ItemUpdate) -> Item:
    values: dict[str, Any] = changes.model_dump(exclude_unset=True, exclude_none=True)
    if "price" in values:
        values["price_minor"] = to_minor(values.pop("price"))
    if values.get("sku", item.sku) != item.sku and await repository.get_by_sku(
        session, values["sku"]
    ):
        raise SkuTaken()
    for field, value in values.items():
        setattr(item, field, value)
    await _flush_unique_sku(session)
    await session.refresh(item)
    return item


async def delete(session: AsyncSession, item: Item, *, storage: LocalStorage) -> None:
    """Delete the item; its image objects go once the deletion has committed."""
    keys = [
        key
        for key in (item.image_original_key, item.image_key, item.thumbnail_key)
        if key is not None
    ]
    await session.delete(item)
    try:
        await session.flush()
    except IntegrityError as error:
        raise ItemInUse() from error

    async def delete_objects() -> None:
        for key in keys:
            await storage.delete(key)

    if keys:
        after_commit(session, delete_objects)


async def _flush_unique_sku(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as error:
        # Two admins racing for one SKU: the unique constraint decides.
        raise SkuTaken() from error


async def take_stock(session: AsyncSession, quantities: Mapping[int, int]) -> dict[int, Item]:
    """Take every line's units, all or nothing (the caller's transaction rolls back on
    error). Rows are locked in item-id order, so two orders never deadlock each other.
    Returns the items as they are after the take (for their price and currency)."""
    for item_id in sorted(quantities):
        if await repository.take(session, item_id, quantities[item_id]) is None:
            if await repository.get(session, item_id) is None:
                raise ItemNotFound(f"Item {item_id} does not exist.")
            raise OutOfStock(f"Not enough units of item {item_id} in stock.")
    rows = await session.scalars(
        select(Item).where(Item.id.in_(quantities)).execution_options(populate_existing=True)
    )
    return {item.id: item for item in rows}


async def return_stock(
    session: AsyncSession, quantities: Mapping[int, int], *, cache: AppCache
) -> None:
    await repository.give_back(session, quantities)
    invalidate_popular_after_commit(session, cache)


def invalidate_popular_after_commit(session: AsyncSession, cache: AppCache) -> None:
    async def invalidate() -> None:
        await cache.invalidate_tags(POPULAR_TAG)

    after_commit(session, invalidate)


async def popular(session: AsyncSession, *, cache: AppCache) -> list[dict[str, Any]]:
    """The most ordered items, as JSON-ready v1 dicts, from the cache when it has them."""

    async def compute() -> list[dict[str, Any]]:
        items = await repository.most_sold(session, limit=POPULAR_SIZE)
        return [ItemRead.of(item).model_dump(mode="json") for item in items]

    return await cache.get_or_compute(
        POPULAR_KEY, compute, ttl=POPULAR_TTL_SECONDS, tags=(POPULAR_TAG,)
    )
