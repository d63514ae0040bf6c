"""SQL over items. Stock moves are conditional updates: never a read-then-write."""

from collections.abc import Mapping, Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog.models import Item
from storefront.core.reads import Reads, Row
from storefront.kit.models import utc_now

ITEM = Item.__table__
_ITEM_BY_ID = select(ITEM).where(ITEM.c.id == bindparam("item_id"))
_MOST_SOLD = (
    select(ITEM)
    .where(ITEM.c.units_sold > 0)
    .order_by(ITEM.c.units_sold.desc(), ITEM.c.id)
    .limit(bindparam("limit"))
)


async def read(reads: Reads, item_id: int) -> Row | None:
    return await reads.one(_ITEM_BY_ID, item_id=item_id)


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
