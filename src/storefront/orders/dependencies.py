from typing import Annotated

from fastapi import Depends, Header, Path

from storefront.auth.dependencies import CurrentUser
from storefront.core.db import DbSession
from storefront.orders import service
from storefront.orders.models import Order

OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Send the same key to retry safely: the first response is replayed.",
    ),
]


async def load_visible_order(session: DbSession, user: CurrentUser, order_id: OrderId) -> Order:
    return await service.get_visible(session, order_id, user_id=user.id, is_admin=user.is_admin)


VisibleOrder = Annotated[Order, Depends(load_visible_order)]
