"""Order rules: stock taken atomically, a status lifecycle, live updates after commit."""

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog import service as catalog_service
from storefront.core.cache import AppCache
from storefront.core.db import after_commit
from storefront.core.pubsub import Hub
from storefront.kit.pagination import PageParams, PageResult, fetch_page
from storefront.orders import repository
from storefront.orders.errors import InvalidTransition, MixedCurrencies, OrderNotFound
from storefront.orders.models import Order, OrderLine, OrderStatus
from storefront.orders.schemas import OrderCreate
from storefront.realtime import service as realtime_service

# The one way forward an admin may move an order; cancelling is separate.
NEXT_STATUS = {
    OrderStatus.PENDING: OrderStatus.PAID,
    OrderStatus.PAID: OrderStatus.SHIPPED,
    OrderStatus.SHIPPED: OrderStatus.DELIVERED,
}
CANCELLABLE = (OrderStatus.PENDING, OrderStatus.PAID)


async def create(
    session: AsyncSession, *, user_id: int, data: OrderCreate, cache: AppCache
) -> Order:
    """Take the stock of every line or of none (an error rolls the transaction back)."""
    quantities = data.quantities()
    items = await catalog_service.take_stock(session, quantities)
    currencies = {item.currency for item in items.values()}
    if len(currencies) != 1:
        raise MixedCurrencies()
    lines = [
        OrderLine(item_id=item_id, quantity=quantity, unit_price_minor=items[item_id].price_minor)
        for item_id, quantity in quantities.items()
    ]
    order = Order(
        user_id=user_id,
        status=OrderStatus.PENDING,
        currency=currencies.pop(),
        total_minor=sum(line.quantity * line.unit_price_minor for line in lines),
        lines=lines,
    )
    session.add(order)
    await session.flush()
    catalog_service.invalidate_popular_after_commit(session, cache)
    return await get(session, order.id)


async def get(session: AsyncSession, order_id: int) -> Order:
    order = await repository.get(session, order_id)
    if order is None:
        raise OrderNotFound()
    return order


async def get_visible(
    session: AsyncSession, order_id: int, *, user_id: int, is_admin: bool
) -> Order:
    """The order if the viewer may see it; someone else's is as absent as a missing one."""
    order = await repository.get(session, order_id)
    if order is None or (order.user_id != user_id and not is_admin):
        raise OrderNotFound()
    return order


async def list_orders(
    session: AsyncSession,
    *,
    user_id: int,
    is_admin: bool,
    status: OrderStatus | None,
    params: PageParams,
) -> PageResult[Order]:
    query = repository.listed(user_id=None if is_admin else user_id, status=status)
    return await fetch_page(session, query, params)


async def cancel(session: AsyncSession, order: Order, *, cache: AppCache, hub: Hub) -> Order:
    """Cancel from pending or paid, giving the units back in the same transaction."""
    if not await repository.move(
        session, order.id, from_statuses=CANCELLABLE, to=OrderStatus.CANCELLED
    ):
        raise InvalidTransition(f"An order that is {order.status} cannot be cancelled.")
    await catalog_service.return_stock(
        session, {line.item_id: line.quantity for line in order.lines}, cache=cache
    )
    return await _changed(session, order, hub=hub)


async def change_status(
    session: AsyncSession, order: Order, *, status: OrderStatus, hub: Hub
) -> Order:
    expected = next((old for old, new in NEXT_STATUS.items() if new == status), None)
    if expected is None or not await repository.move(
        session, order.id, from_statuses=(expected,), to=status
    ):
        raise InvalidTransition(f"An order that is {order.status} cannot become {status}.")
    return await _changed(session, order, hub=hub)


async def _changed(session: AsyncSession, order: Order, *, hub: Hub) -> Order:
    order = await get(session, order.id)
    event = {"event": "order.status_changed", "order_id": order.id, "status": str(order.status)}
    room = realtime_service.user_room(order.user_id)

    async def push() -> None:
        await realtime_service.publish(hub, room, event)  # type: ignore[arg-type]

    after_commit(session, push)
    return order
