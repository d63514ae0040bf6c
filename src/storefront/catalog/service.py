"""Catalog rules: one service behind API v1 and v2."""

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog import listing, repository
from storefront.catalog.errors import ItemInUse, ItemNotFound, OutOfStock, SkuTaken
from storefront.catalog.listing import ItemFilters
from storefront.catalog.models import Item
from storefront.catalog.schemas import ItemCreate, ItemRead, ItemUpdate
from storefront.core.db import Work, after_commit
from storefront.core.db import statements as unit_statements
from storefront.core.invalidation import Invalidations, invalidate_after_commit
from storefront.core.statements import Row, Statements
from storefront.core.storage import LocalStorage
from storefront.kit.models import utc_now
from storefront.kit.money import to_minor
from storefront.kit.pagination import PageParams, PageResult, fetch_page

# The popular list's JSON, kept encoded in each process's memory (core/local_cache.py)
# and forgotten in every process whenever units are ordered or given back, or an item
# changes. Reading it afresh is one indexed query.
POPULAR = "catalog.popular"
POPULAR_KEY = "items"
POPULAR_TAG = "units-sold"
POPULAR_SIZE = 10
POPULAR_TTL_SECONDS = 300


async def read(reads: Statements, item_id: int) -> Row:
    """The item's row, read outside any unit of work."""
    item = await repository.read(reads, item_id)
    if item is None:
        raise ItemNotFound()
    return item


async def read_page(
    reads: Statements, invalidations: Invalidations, *, filters: ItemFilters, params: PageParams
) -> PageResult[Row]:
    return await listing.read_page(reads, invalidations, filters, params)


async def get(session: AsyncSession, item_id: int) -> Item:
    item = await repository.get(session, item_id)
    if item is None:
        raise ItemNotFound()
    return item


async def search(session: AsyncSession, *, q: str, params: PageParams) -> PageResult[Item]:
    query = repository.matching(session, q)
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
    listing.forget_positions_after_commit(session)
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
    listing.forget_positions_after_commit(session)
    invalidate_popular_after_commit(session)
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
    listing.forget_positions_after_commit(session)
    invalidate_popular_after_commit(session)


async def _flush_unique_sku(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as error:
        # Two admins racing for one SKU: the unique constraint decides.
        raise SkuTaken() from error


async def take_stock(work: Work, quantities: Mapping[int, int]) -> dict[int, Row]:
    """Take every line's units, all or nothing (the caller's transaction rolls back on
    error). Rows are locked in item-id order, so two orders never deadlock each other.
    Returns each item's `price_minor` and `currency`, as they are at the take."""
    statements = await unit_statements(work)
    now = utc_now()
    taken: dict[int, Row] = {}
    for item_id in sorted(quantities):
        row = await repository.take(statements, item_id, quantities[item_id], now=now)
        if row is None:
            if await repository.read(statements, item_id) is None:
                raise ItemNotFound(f"Item {item_id} does not exist.")
            raise OutOfStock(f"Not enough units of item {item_id} in stock.")
        taken[item_id] = row
    return taken


async def return_stock(session: AsyncSession, quantities: Mapping[int, int]) -> None:
    statements = await unit_statements(session)
    now = utc_now()
    for item_id in sorted(quantities):
        await repository.give_back(statements, item_id, quantities[item_id], now=now)
    invalidate_popular_after_commit(session)


def invalidate_popular_after_commit(work: Work) -> None:
    invalidate_after_commit(work, POPULAR, POPULAR_TAG, urgent=False)


async def popular(reads: Statements, invalidations: Invalidations) -> bytes:
    """The most ordered items as a v1 JSON array, from memory when this process has it."""
    local = invalidations.cache(POPULAR, ttl_seconds=POPULAR_TTL_SECONDS, max_entries=1)

    async def read() -> bytes:
        rows = await repository.read_most_sold(reads, limit=POPULAR_SIZE)
        return orjson.dumps([ItemRead.fields_of(row) for row in rows], option=orjson.OPT_UTC_Z)

    body: bytes = await local.get_or_load(POPULAR_KEY, read, tags=[POPULAR_TAG])
    return body
