"""Imported by the worker processes of the kill test: a build of small batches, each a
little slow, so that a report takes long enough to be killed in the middle."""

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storefront.orders import service as sales
from storefront.orders.schemas import Sale
from storefront.reports import build

BATCH_SIZE = 20
PAUSE_SECONDS = 0.15
real_sales_batch = sales.sales_batch


async def slow_sales_batch(session: AsyncSession, **query: Any) -> list[Sale]:
    await asyncio.sleep(PAUSE_SECONDS)
    return await real_sales_batch(session, **query)


build.BATCH_SIZE = BATCH_SIZE
sales.sales_batch = slow_sales_batch
