"""Catalog rules: one service behind API v1 and v2."""

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog import listing, repository
from storefront.catalog.errors import ItemInUse, ItemNotFound, OutOfStock, SkuTaken
from storefront.catalog.listing import ItemFilters
from storefront.catalog.models import Item
from storefront.catalog.schemas import ItemCreate, ItemRead, ItemUpdate
from storefront.catalog.search import search_query
from storefront.core.cache import AppCache
from storefront.core.db import after_commit
from storefront.core.invalidation import SESSION_INFO_KEY, Invalidations
from storefront.core.reads import Reads, Row
from storefront.core.storage import LocalStorage
from storefront.kit.money import to_minor
from storefront.kit.pagination import PageParams, PageResult, fetch_page

# The popular list's JSON, shared by every process in the cache, and kept encoded in each
# process's memory in front of it (core/local_cache.py).
POPULAR_KEY = "catalog:popular-json"
POPULAR_LOCAL = "catalog.popular"
POPULAR_TAG = "catalog:units-sold"
POPULAR_SIZE = 10
POPULAR_TTL_SECONDS = 300


async def read(reads: Reads, item_id: int) -> Row:
    """The item's row, read outside any unit of work."""
    item = await repository.read(reads, item_id)
    if item is None:
        raise ItemNotFound()
    return item


async def read_page(
    reads: Reads, invalidations: Invalidations, *, filters: ItemFilters, params: PageParams
) -> PageResult[Row]:
    return await listing.read_page(reads, invalidations, filters, params)


async def get(session: AsyncSession, item_id: int) -> Item:
    item = await repository.get(session, item_id)
    if item is None:
        raise ItemNotFound()
    return item


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
    listing.forget_positions_after_commit(session)
    return item


async def update(
    session: AsyncSession, item: Item, *, changes: ItemUpdate, cache: AppCache
) -> Item:
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
    listing.forget_positions_after_commit(session)
    invalidate_popular_after_commit(session, cache)
    return item


async def delete(
    session: AsyncSession, item: Item, *, storage: LocalStorage, cache: AppCache
) -> None:
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
    listing.forget_positions_after_commit(session)
    invalidate_popular_after_commit(session, cache)


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
    invalidations: Invalidations = session.info[SESSION_INFO_KEY]

    async def invalidate() -> None:
        # The shared entry first: a process told to forget its copy reads the new one.
        await cache.invalidate_tags(POPULAR_TAG)
        await invalidations.invalidate(POPULAR_LOCAL, [POPULAR_TAG])

    after_commit(session, invalidate)


async def popular(reads: Reads, *, cache: AppCache, invalidations: Invalidations) -> bytes:
    """The most ordered items as a v1 JSON array, from memory or the cache when they have it."""
    local = invalidations.cache(POPULAR_LOCAL, ttl_seconds=POPULAR_TTL_SECONDS, max_entries=1)
    body: bytes | None = local.get(POPULAR_KEY)
    if body is not None:
        return body
    stamp = local.stamp()

    async def compute() -> str:
        rows = await repository.read_most_sold(reads, limit=POPULAR_SIZE)
        items = [ItemRead.fields_of(row) for row in rows]
        return orjson.dumps(items, option=orjson.OPT_UTC_Z).decode()

    text = await cache.get_or_compute(
        POPULAR_KEY, compute, ttl=POPULAR_TTL_SECONDS, tags=(POPULAR_TAG,)
    )
    body = text.encode()
    local.put(POPULAR_KEY, body, stamp=stamp, tags=[POPULAR_TAG])
    return body
