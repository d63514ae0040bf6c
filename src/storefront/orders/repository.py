"""SQL over orders. Status changes are conditional updates on the expected status."""

from collections.abc import Collection

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storefront.kit.models import utc_now
from storefront.orders.models import Order, OrderStatus


def with_lines() -> Select[Order]:
    return select(Order).options(selectinload(Order.lines))


async def get(session: AsyncSession, order_id: int) -> Order | None:
    query = with_lines().where(Order.id == order_id).execution_options(populate_existing=True)
    return await session.scalar(query)


def listed(*, user_id: int | None, status: OrderStatus | None) -> Select[Order]:
    query = with_lines()
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    if status is not None:
        query = query.where(Order.status == status)
    return query.order_by(Order.created_at.desc(), Order.id.desc())


async def move(
    session: AsyncSession, order_id: int, *, from_statuses: Collection[OrderStatus], to: OrderStatus
) -> bool:
    """Set the status if it is still one of `from_statuses` (a concurrent change wins)."""
    result = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status.in_(from_statuses))
        .values(status=to, updated_at=utc_now())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
