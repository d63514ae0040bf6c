"""Order rules: stock taken atomically, a status lifecycle, live updates after commit."""

from dataclasses import dataclass

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from storefront.catalog import service as catalog_service
from storefront.core.db import Work, statements
from storefront.kit.models import utc_now
from storefront.kit.pagination import PageParams, PageResult, fetch_page
from storefront.orders import idempotency, repository
from storefront.orders.errors import InvalidTransition, MixedCurrencies, OrderNotFound
from storefront.orders.models import Order, OrderStatus
from storefront.orders.schemas import OrderCreate, OrderRead
from storefront.realtime import service as realtime_service

# The one way forward an admin may move an order; cancelling is separate.
NEXT_STATUS = {
    OrderStatus.PENDING: OrderStatus.PAID,
    OrderStatus.PAID: OrderStatus.SHIPPED,
    OrderStatus.SHIPPED: OrderStatus.DELIVERED,
}
CANCELLABLE = (OrderStatus.PENDING, OrderStatus.PAID)


@dataclass(frozen=True)
class Placed:
    """An order's response: made now, or replayed for its Idempotency-Key."""

    order_id: int
    status_code: int
    body: bytes
    replayed: bool = False


async def place(
    work: Work,
    *,
    user_id: int,
    data: OrderCreate,
    idempotency_key: str | None,
) -> Placed:
    """Create the order, or replay the first response to `idempotency_key`."""
    if idempotency_key is None:
        return await _create(work, user_id=user_id, data=data)
    fingerprint = idempotency.request_hash(data.model_dump(mode="json"))
    replay = await idempotency.begin(
        work, user_id=user_id, key=idempotency_key, fingerprint=fingerprint
    )
    if replay is not None:
        order_id = orjson.loads(replay.body)["id"]
        return Placed(order_id, replay.status_code, replay.body, replayed=True)
    placed = await _create(work, user_id=user_id, data=data)
    await idempotency.complete(
        await statements(work),
        user_id=user_id,
        key=idempotency_key,
        fingerprint=fingerprint,
        status_code=placed.status_code,
        body=placed.body,
        now=utc_now(),
    )
    return placed


async def _create(work: Work, *, user_id: int, data: OrderCreate) -> Placed:
    """Take the stock of every line or of none (an error rolls the transaction back)."""
    quantities = data.quantities()
    taken = await catalog_service.take_stock(work, quantities)
    currencies = {row["currency"] for row in taken.values()}
    if len(currencies) != 1:
        raise MixedCurrencies()
    currency = currencies.pop()
    lines = [
        {
            "item_id": item_id,
            "quantity": quantity,
            "unit_price_minor": taken[item_id]["price_minor"],
        }
        for item_id, quantity in quantities.items()
    ]
    total_minor = sum(line["quantity"] * line["unit_price_minor"] for line in lines)
    now = utc_now()
    order_id = await repository.add(
        await statements(work),
        user_id=user_id,
        total_minor=total_minor,
        currency=currency,
        lines=lines,
        now=now,
    )
    catalog_service.invalidate_popular_after_commit(work)
    body = OrderRead.fields(
        order_id=order_id,
        status=OrderStatus.PENDING,
        lines=lines,
        total_minor=total_minor,
        currency=currency,
        created_at=now,
        updated_at=now,
    )
    return Placed(order_id, 201, orjson.dumps(body, option=orjson.OPT_UTC_Z))


# Orders as sales records, for reports: a caller pages with the last id it saw (keyset
# pagination), so each batch is one short indexed query and nothing holds a transaction
# (on SQLite, the write lock) for the length of a report. It reads up to the newest
# order's id when it began, so a busy shop cannot keep it running forever.
last_order_id = repository.last_order_id
sales_batch = repository.sales_batch


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


async def cancel(session: AsyncSession, order: Order) -> Order:
    """Cancel from pending or paid, giving the units back in the same transaction."""
    if not await repository.move(
        session, order.id, from_statuses=CANCELLABLE, to=OrderStatus.CANCELLED
    ):
        raise InvalidTransition(f"An order that is {order.status} cannot be cancelled.")
    await catalog_service.return_stock(
        session, {line.item_id: line.quantity for line in order.lines}
    )
    return await _changed(session, order)


async def change_status(session: AsyncSession, order: Order, *, status: OrderStatus) -> Order:
    expected = next((old for old, new in NEXT_STATUS.items() if new == status), None)
    if expected is None or not await repository.move(
        session, order.id, from_statuses=(expected,), to=status
    ):
        raise InvalidTransition(f"An order that is {order.status} cannot become {status}.")
    return await _changed(session, order)


async def _changed(session: AsyncSession, order: Order) -> Order:
    order = await get(session, order.id)
    event = {"event": "order.status_changed", "order_id": order.id, "status": str(order.status)}
    realtime_service.publish_after_commit(
        session,
        realtime_service.user_room(order.user_id),
        event,  # type: ignore[arg-type]
    )
    return order
