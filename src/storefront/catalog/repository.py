"""SQL over items. Stock moves are conditional updates: never a read-then-write."""

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Integer, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog.models import Item
from storefront.core.statements import Row, Statements

ITEM = cast(Table, Item.__table__)
_ITEM_BY_ID = select(ITEM).where(ITEM.c.id == bindparam("item_id"))
_MOST_SOLD = (
    select(ITEM)
    .where(ITEM.c.units_sold > 0)
    .order_by(ITEM.c.units_sold.desc(), ITEM.c.id)
    .limit(bindparam("limit"))
)


async def read(reads: Statements, item_id: int) -> Row | None:
    return await reads.one(_ITEM_BY_ID, item_id=item_id)


async def read_most_sold(reads: Statements, *, limit: int) -> Sequence[Row]:
    return await reads.all(_MOST_SOLD, limit=limit)


async def get(session: AsyncSession, item_id: int) -> Item | None:
    return await session.get(Item, item_id)


async def get_by_sku(session: AsyncSession, sku: str) -> Item | None:
    return await session.scalar(select(Item).where(Item.sku == sku))


_QUANTITY = bindparam("quantity", type_=Integer())
_NOW = bindparam("now", type_=ITEM.c.updated_at.type)
_TAKE = (
    update(ITEM)
    .where(ITEM.c.id == bindparam("item_id"), ITEM.c.stock >= _QUANTITY)
    .values(
        stock=ITEM.c.stock - _QUANTITY,
        units_sold=ITEM.c.units_sold + _QUANTITY,
        updated_at=_NOW,
    )
    .returning(ITEM.c.price_minor, ITEM.c.currency)
)
_GIVE_BACK = (
    update(ITEM)
    .where(ITEM.c.id == bindparam("item_id"))
    .values(
        stock=ITEM.c.stock + _QUANTITY,
        units_sold=ITEM.c.units_sold - _QUANTITY,
        updated_at=_NOW,
    )
)


async def take(statements: Statements, item_id: int, quantity: int, *, now: datetime) -> Row | None:
    """Take `quantity` units if that many are in stock: the row's `price_minor` and
    `currency`, or None."""
    return await statements.one(_TAKE, item_id=item_id, quantity=quantity, now=now)


async def give_back(statements: Statements, item_id: int, quantity: int, *, now: datetime) -> None:
    await statements.run(_GIVE_BACK, item_id=item_id, quantity=quantity, now=now)
