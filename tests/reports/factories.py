"""Orders in bulk, straight into the table: report tests need many, not realistic ones."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storefront.orders.models import Order, OrderStatus

CHUNK = 5000


def order_rows(*, user_id: int, count: int, day: date, start: int = 0) -> list[dict[str, Any]]:
    """`count` orders spread over `day`; every tenth is cancelled; totals 1.00 to 10.99."""
    midnight = datetime.combine(day, time.min, UTC)
    step = timedelta(days=1) / max(count, 1)
    rows = []
    for index in range(start, start + count):
        created_at = midnight + step * (index - start)
        rows.append(
            {
                "user_id": user_id,
                "status": OrderStatus.CANCELLED if index % 10 == 9 else OrderStatus.PAID,
                "total_minor": 100 + index % 1000,
                "currency": "EUR",
                "created_at": created_at,
                "updated_at": created_at,
            }
        )
    return rows


async def insert_orders(
    connection: AsyncConnection, *, user_id: int, count: int, day: date
) -> None:
    for start in range(0, count, CHUNK):
        rows = order_rows(user_id=user_id, count=min(CHUNK, count - start), day=day, start=start)
        await connection.execute(insert(Order), rows)


def expected_revenue_minor(count: int) -> int:
    return sum(100 + index % 1000 for index in range(count) if index % 10 != 9)
