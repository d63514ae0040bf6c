from typing import Annotated, Any

from fastapi import Query, Request, status

from storefront.auth.dependencies import AdminUser, CurrentUser
from storefront.core.db import DbSession, transaction
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES
from storefront.kit.pagination import Page, Pagination
from storefront.kit.responses import JSONBody
from storefront.kit.routing import domain_router
from storefront.orders import service
from storefront.orders.dependencies import IdempotencyKey, VisibleOrder
from storefront.orders.models import OrderStatus
from storefront.orders.schemas import OrderCreate, OrderRead, OrderStatusUpdate

router = domain_router(prefix="/api/v1", tags=["orders"])
router.responses.update({**RATE_LIMITED_RESPONSES, **problem_responses(401)})


@router.post(
    "/orders",
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 422),
)
async def create_order(
    request: Request,
    user: CurrentUser,
    data: OrderCreate,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async with transaction(request.state.database) as work:
        placed = await service.place(
            work, user_id=user.id, data=data, idempotency_key=idempotency_key
        )
    headers = {"Location": f"/api/v1/orders/{placed.order_id}"}
    if placed.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONBody(placed.body, status_code=placed.status_code, headers=headers)


@router.get("/orders", response_model=Page[OrderRead], responses=problem_responses(422))
async def list_orders(
    session: DbSession,
    user: CurrentUser,
    pagination: Pagination,
    status: Annotated[OrderStatus | None, Query()] = None,
) -> Any:
    result = await service.list_orders(
        session, user_id=user.id, is_admin=user.is_admin, status=status, params=pagination
    )
    return Page[OrderRead].of(
        [OrderRead.of(order) for order in result.rows], total=result.total, params=pagination
    )


@router.get("/orders/{order_id}", response_model=OrderRead, responses=problem_responses(404, 422))
async def get_order(order: VisibleOrder) -> OrderRead:
    return OrderRead.of(order)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderRead,
    responses=problem_responses(404, 409, 422),
)
async def cancel_order(session: DbSession, order: VisibleOrder) -> OrderRead:
    return OrderRead.of(await service.cancel(session, order))


@router.patch(
    "/orders/{order_id}",
    response_model=OrderRead,
    responses=problem_responses(403, 404, 409, 422),
)
async def update_order_status(
    session: DbSession, _: AdminUser, order: VisibleOrder, change: OrderStatusUpdate
) -> OrderRead:
    return OrderRead.of(await service.change_status(session, order, status=change.status))
