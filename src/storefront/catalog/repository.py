"""SQL over items. Stock moves are conditional updates: never a read-then-write."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import UnaryExpression

from storefront.catalog.models import Item
from storefront.catalog.schemas import ItemSort
from storefront.kit.models import utc_now
from storefront.kit.money import to_minor

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


async def most_sold(session: AsyncSession, *, limit: int) -> Sequence[Item]:
    query = (
        select(Item)
        .where(Item.units_sold > 0)
        .order_by(Item.units_sold.desc(), Item.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()
