"""SQL over items. Stock moves are conditional updates: never a read-then-write."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import UnaryExpression

from storefront.catalog.models import Item, ItemCount
from storefront.catalog.schemas import ItemSort
from storefront.core.reads import Reads, Row
from storefront.kit.models import utc_now
from storefront.kit.money import to_minor
from storefront.kit.pagination import PageParams, PageResult

SORT_COLUMNS: dict[ItemSort, tuple[UnaryExpression[Any], ...]] = {
    ItemSort.NAME: (Item.name.asc(), Item.id.asc()),
    ItemSort.NAME_DESC: (Item.name.desc(), Item.id.desc()),
    ItemSort.PRICE: (Item.price_minor.asc(), Item.id.asc()),
    ItemSort.PRICE_DESC: (Item.price_minor.desc(), Item.id.desc()),
    ItemSort.CREATED_AT: (Item.created_at.asc(), Item.id.asc()),
    ItemSort.CREATED_AT_DESC: (Item.created_at.desc(), Item.id.desc()),
}


@dataclass(frozen=True)
class ItemFilters:
    category: str | None = None
    q: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    sort: ItemSort = ItemSort.CREATED_AT_DESC


ITEM = Item.__table__
_ITEM_BY_ID = select(ITEM).where(ITEM.c.id == bindparam("item_id"))
_MOST_SOLD = (
    select(ITEM)
    .where(ITEM.c.units_sold > 0)
    .order_by(ITEM.c.units_sold.desc(), ITEM.c.id)
    .limit(bindparam("limit"))
)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered(filters: ItemFilters) -> Select[Item]:
    query = select(Item)
    if filters.category is not None:
        query = query.where(Item.category == filters.category)
    if filters.q:
        pattern = _like_pattern(filters.q)
        query = query.where(
            or_(
                Item.name.ilike(pattern, escape="\\"),
                Item.description.ilike(pattern, escape="\\"),
            )
        )
    if filters.min_price is not None:
        query = query.where(Item.price_minor >= to_minor(filters.min_price))
    if filters.max_price is not None:
        query = query.where(Item.price_minor <= to_minor(filters.max_price))
    return query.order_by(*SORT_COLUMNS[filters.sort])


# What a listing shows of an item (core/reads.py rows; schemas.py shapes them).
LISTED = tuple(
    column for column in ITEM.columns if column.key not in ("units_sold", "image_original_key")
)
_ITEMS_COUNTED = select(ItemCount.items)


@cache
def _listing(
    *, category: bool, q: bool, min_price: bool, max_price: bool, sort: ItemSort
) -> tuple[Select[Any], Select[Any]]:
    """A page and the count of one combination of filters; the values are parameters.

    The page's ids are found first, from the sort order's index alone (PostgreSQL skips
    the offset there without reading rows), then only those rows are read. Without
    filters the total is item_count's, in the same statement.
    """
    conditions: list[ColumnElement[bool]] = []
    if category:
        conditions.append(ITEM.c.category == bindparam("category"))
    if q:
        pattern = bindparam("pattern", type_=String())
        conditions.append(
            or_(
                ITEM.c.name.ilike(pattern, escape="\\"),
                ITEM.c.description.ilike(pattern, escape="\\"),
            )
        )
    if min_price:
        conditions.append(ITEM.c.price_minor >= bindparam("min_price"))
    if max_price:
        conditions.append(ITEM.c.price_minor <= bindparam("max_price"))
    order = SORT_COLUMNS[sort]
    ids = (
        select(ITEM.c.id)
        .where(*conditions)
        .order_by(*order)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    columns: list[Any] = list(LISTED)
    if conditions:
        count = select(func.count()).select_from(ITEM).where(*conditions)
    else:
        count = _ITEMS_COUNTED
        columns.append(_ITEMS_COUNTED.scalar_subquery().label("total"))
    page = select(*columns).join_from(ITEM, ids, ids.c.id == ITEM.c.id).order_by(*order)
    return page, count


async def read(reads: Reads, item_id: int) -> Row | None:
    return await reads.one(_ITEM_BY_ID, item_id=item_id)


async def read_page(reads: Reads, filters: ItemFilters, params: PageParams) -> PageResult[Row]:
    page, count = _listing(
        category=filters.category is not None,
        q=bool(filters.q),
        min_price=filters.min_price is not None,
        max_price=filters.max_price is not None,
        sort=filters.sort,
    )
    values: dict[str, Any] = {
        "category": filters.category,
        "pattern": _like_pattern(filters.q) if filters.q else None,
        "min_price": None if filters.min_price is None else to_minor(filters.min_price),
        "max_price": None if filters.max_price is None else to_minor(filters.max_price),
    }
    values = {name: value for name, value in values.items() if value is not None}
    rows = await reads.all(page, limit=params.per_page, offset=params.offset, **values)
    if rows and count is _ITEMS_COUNTED:
        total = rows[0]["total"]
    else:
        total = await reads.scalar(count, **values) or 0
    return PageResult(rows=rows, total=total, params=params)


async def read_most_sold(reads: Reads, *, limit: int) -> Sequence[Row]:
    return await reads.all(_MOST_SOLD, limit=limit)


async def get(session: AsyncSession, item_id: int) -> Item | None:
    return await session.get(Item, item_id)


async def get_by_sku(session: AsyncSession, sku: str) -> Item | None:
    return await session.scalar(select(Item).where(Item.sku == sku))


async def existing_ids(session: AsyncSession, item_ids: Sequence[int]) -> set[int]:
    return set(await session.scalars(select(Item.id).where(Item.id.in_(item_ids))))


async def take(session: AsyncSession, item_id: int, quantity: int) -> tuple[int, str] | None:
    """Take `quantity` units if that many are in stock: (unit price, currency) or None."""
    result = await session.execute(
        update(Item)
        .where(Item.id == item_id, Item.stock >= quantity)
        .values(
            stock=Item.stock - quantity,
            units_sold=Item.units_sold + quantity,
            updated_at=utc_now(),
        )
        .returning(Item.price_minor, Item.currency)
        .execution_options(synchronize_session=False)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row is not None else None


async def give_back(session: AsyncSession, quantities: Mapping[int, int]) -> None:
    for item_id in sorted(quantities):
        quantity = quantities[item_id]
        await session.execute(
            update(Item)
            .where(Item.id == item_id)
            .values(
                stock=Item.stock + quantity,
                units_sold=Item.units_sold - quantity,
                updated_at=utc_now(),
            )
            .execution_options(synchronize_session=False)
        )
