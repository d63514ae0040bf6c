from typing import Annotated, Any

from fastapi import Query, Response, status
from fastapi.responses import JSONResponse

from storefront.auth.dependencies import AdminUser, CurrentUser
from storefront.core.cache import Cache
from storefront.core.db import DbSession
from storefront.core.problems import problem_responses
from storefront.core.pubsub import PubSubHub
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES
from storefront.kit.pagination import Page, Pagination
from storefront.kit.routing import domain_router
from storefront.orders import idempotency, service
from storefront.orders.dependencies import IdempotencyKey, VisibleOrder
from storefront.orders.models import OrderStatus
from storefront.orders.schemas import OrderCreate, OrderRead, OrderStatusUpdate

router = domain_router(prefix="/api/v1", tags=["orders"])
router.responses.update({**RATE_LIMITED_RESPONSES, **problem_responses(401)})

REPLAYED = {"Idempotent-Replayed": "true"}


@router.post(
    "/orders",
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 422),
)
async def create_order(
    session: DbSession,
    user: CurrentUser,
    data: OrderCreate,
    cache: Cache,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    if idempotency_key is None:
        order = await service.create(session, user_id=user.id, data=data, cache=cache)
        response.headers["Location"] = f"/api/v1/orders/{order.id}"
        return OrderRead.of(order)
    fingerprint = idempotency.request_hash(data.model_dump(mode="json"))
    replay = await idempotency.begin(
        session, user_id=user.id, key=idempotency_key, fingerprint=fingerprint
    )
    if replay is not None:
        return JSONResponse(replay.body, status_code=replay.status_code, headers=REPLAYED)
    order = await service.create(session, user_id=user.id, data=data, cache=cache)
    body = OrderRead.of(order).model_dump(mode="json")
    await idempotency.complete(
        session,
        user_id=user.id,
        key=idempotency_key,
        fingerprint=fingerprint,
        status_code=status.HTTP_201_CREATED,
        body=body,
    )
    response.headers["Location"] = f"/api/v1/orders/{order.id}"
    return body


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
async def cancel_order(
    session: DbSession, order: VisibleOrder, cache: Cache, hub: PubSubHub
) -> OrderRead:
    return OrderRead.of(await service.cancel(session, order, cache=cache, hub=hub))


@router.patch(
    "/orders/{order_id}",
    response_model=OrderRead,
    responses=problem_responses(403, 404, 409, 422),
)
async def update_order_status(
    session: DbSession, _: AdminUser, order: VisibleOrder, change: OrderStatusUpdate, hub: PubSubHub
) -> OrderRead:
    return OrderRead.of(await service.change_status(session, order, status=change.status, hub=hub))
