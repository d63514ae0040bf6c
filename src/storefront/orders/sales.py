"""Orders as sales records, for reports: read in id order, one bounded batch at a time.

The orders service's read side for another domain. A caller pages with the last id it
saw (keyset pagination), so each batch is one short indexed query and nothing holds a
transaction (on SQLite, the write lock) for the length of a report.
"""

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.orders.models import Order, OrderLine, OrderStatus


class Sale(NamedTuple):
    order_id: int
    created_at: datetime
    status: OrderStatus
    customer_id: int
    currency: str
    units: int
    total_minor: int


async def last_order_id(session: AsyncSession) -> int:
    """The newest order's id: a report reads up to it, so a busy shop cannot keep it
    running forever and the orders of one report are the ones that existed when it began."""
    return await session.scalar(select(func.max(Order.id))) or 0


async def sales_batch(
    session: AsyncSession,
    *,
    after_id: int,
    up_to_id: int,
    created_from: datetime | None,
    created_before: datetime | None,
    limit: int,
) -> list[Sale]:
    """At most `limit` orders with `after_id < id <= up_to_id`, in id order."""
    units = (
        select(func.coalesce(func.sum(OrderLine.quantity), 0))
        .where(OrderLine.order_id == Order.id)
        .correlate(Order)
        .scalar_subquery()
    )
    query = (
        select(
            Order.id,
            Order.created_at,
            Order.status,
            Order.user_id,
            Order.currency,
            units,
            Order.total_minor,
        )
        .where(Order.id > after_id, Order.id <= up_to_id)
        .order_by(Order.id)
        .limit(limit)
    )
    if created_from is not None:
        query = query.where(Order.created_at >= created_from)
    if created_before is not None:
        query = query.where(Order.created_at < created_before)
    return [Sale(*row) for row in await session.execute(query)]
