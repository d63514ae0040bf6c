"""SQL over orders and their Idempotency-Key records. Status changes are conditional
updates on the expected status."""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storefront.core.statements import Row, Statements
from storefront.kit.models import utc_now
from storefront.orders.models import IdempotencyRecord, Order, OrderLine, OrderStatus
from storefront.orders.schemas import Sale

ORDER = cast(Table, Order.__table__)
LINE = cast(Table, OrderLine.__table__)
RECORD = cast(Table, IdempotencyRecord.__table__)
_NOW = bindparam("now", type_=ORDER.c.created_at.type)

_INSERT_ORDER = (
    insert(ORDER)
    .values(
        user_id=bindparam("user_id"),
        status=bindparam("status", type_=ORDER.c.status.type),
        total_minor=bindparam("total_minor"),
        currency=bindparam("currency"),
        created_at=_NOW,
        updated_at=_NOW,
    )
    .returning(ORDER.c.id)
)
_INSERT_LINE = insert(LINE).values(
    order_id=bindparam("order_id"),
    item_id=bindparam("item_id"),
    quantity=bindparam("quantity"),
    unit_price_minor=bindparam("unit_price_minor"),
)
_TRY_LOCK = select(func.pg_try_advisory_xact_lock(bindparam("lock_id", type_=BigInteger())))
_RECORD = select(
    RECORD.c.id, RECORD.c.request_hash, RECORD.c.status_code, RECORD.c.response, RECORD.c.expires_at
).where(RECORD.c.user_id == bindparam("user_id"), RECORD.c.key == bindparam("key"))
_DELETE_RECORD = delete(RECORD).where(RECORD.c.id == bindparam("record_id"))
_INSERT_RECORD = insert(RECORD).values(
    user_id=bindparam("user_id"),
    key=bindparam("key"),
    request_hash=bindparam("request_hash"),
    status_code=bindparam("status_code"),
    response=bindparam("response"),
    created_at=_NOW,
    expires_at=bindparam("expires_at", type_=RECORD.c.expires_at.type),
)
_PURGE_RECORDS = delete(RECORD).where(RECORD.c.expires_at <= _NOW)


async def add(
    statements: Statements,
    *,
    user_id: int,
    total_minor: int,
    currency: str,
    lines: Sequence[dict[str, Any]],
    now: datetime,
) -> int:
    """A new pending order with its lines (`item_id`, `quantity`, `unit_price_minor`): its id."""
    order_id: int = await statements.scalar(
        _INSERT_ORDER,
        user_id=user_id,
        status=OrderStatus.PENDING,
        total_minor=total_minor,
        currency=currency,
        now=now,
    )
    await statements.run_many(_INSERT_LINE, [{**line, "order_id": order_id} for line in lines])
    return order_id


async def try_lock_key(statements: Statements, lock_id: int) -> bool:
    """PostgreSQL only: hold this key until the transaction ends; False if another does."""
    return bool(await statements.scalar(_TRY_LOCK, lock_id=lock_id))


async def find_record(statements: Statements, *, user_id: int, key: str) -> Row | None:
    return await statements.one(_RECORD, user_id=user_id, key=key)


async def delete_record(statements: Statements, record_id: int) -> None:
    await statements.run(_DELETE_RECORD, record_id=record_id)


async def add_record(
    statements: Statements,
    *,
    user_id: int,
    key: str,
    request_hash: str,
    status_code: int,
    response: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await statements.run(
        _INSERT_RECORD,
        user_id=user_id,
        key=key,
        request_hash=request_hash,
        status_code=status_code,
        response=response,
        now=now,
        expires_at=expires_at,
    )


async def purge_records(statements: Statements, *, now: datetime) -> int:
    return await statements.run(_PURGE_RECORDS, now=now)


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


async def last_order_id(session: AsyncSession) -> int:
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
