"""Catalog API v1. Its item reads are deprecated in favour of v2 (router_v2.py)."""

from typing import Annotated, Any

from fastapi import Query, Response, status

from storefront.auth.dependencies import AdminUser
from storefront.catalog import service
from storefront.catalog.dependencies import CurrentItem, Filters, ItemRow
from storefront.catalog.models import Item
from storefront.catalog.schemas import ItemCreate, ItemRead, ItemUpdate
from storefront.core.db import DbInvalidations, DbReads, DbSession
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES, rate_limit
from storefront.core.storage import Storage
from storefront.kit.pagination import Page, Pagination, page_fields
from storefront.kit.responses import JSONBody
from storefront.kit.routing import domain_router

router = domain_router(prefix="/api/v1", tags=["catalog"])
router.responses.update(RATE_LIMITED_RESPONSES)

ADMIN_ERRORS = problem_responses(401, 403, 422)


def item_read(item: Item) -> ItemRead:
    return ItemRead.model_validate(ItemRead.fields_of(item.as_row()))


@router.get(
    "/items",
    response_model=Page[ItemRead],
    deprecated=True,
    responses=problem_responses(422),
)
async def list_items(
    reads: DbReads, invalidations: DbInvalidations, filters: Filters, pagination: Pagination
) -> Any:
    result = await service.read_page(reads, invalidations, filters=filters, params=pagination)
    items = [ItemRead.fields_of(item) for item in result.rows]
    return JSONBody(page_fields(items, total=result.total, params=pagination))


@router.get("/items/popular", response_model=list[ItemRead])
async def list_popular_items(reads: DbReads, invalidations: DbInvalidations) -> Any:
    return JSONBody(await service.popular(reads, invalidations))


@router.get(
    "/items/{item_id}",
    response_model=ItemRead,
    deprecated=True,
    responses=problem_responses(404, 422),
)
async def get_item(item: ItemRow) -> Any:
    return JSONBody(ItemRead.fields_of(item))


@router.post(
    "/items",
    response_model=ItemRead,
    status_code=status.HTTP_201_CREATED,
    responses={**ADMIN_ERRORS, **problem_responses(409)},
)
async def create_item(
    session: DbSession, _: AdminUser, data: ItemCreate, response: Response
) -> ItemRead:
    item = await service.create(session, data=data)
    response.headers["Location"] = f"/api/v1/items/{item.id}"
    return item_read(item)


@router.patch(
    "/items/{item_id}",
    response_model=ItemRead,
    responses={**ADMIN_ERRORS, **problem_responses(404, 409)},
)
async def update_item(
    session: DbSession, _: AdminUser, item: CurrentItem, changes: ItemUpdate
) -> ItemRead:
    return item_read(await service.update(session, item, changes=changes))


@router.delete(
    "/items/{item_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ADMIN_ERRORS, **problem_responses(404, 409)},
)
async def delete_item(
    session: DbSession, _: AdminUser, item: CurrentItem, storage: Storage
) -> None:
    await service.delete(session, item, storage=storage)


@router.get(
    "/search",
    response_model=Page[ItemRead],
    dependencies=[rate_limit("search")],
    responses=problem_responses(422),
)
async def search_items(
    session: DbSession,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words to find.")],
    pagination: Pagination,
) -> Any:
    result = await service.search(session, q=q, params=pagination)
    items = [ItemRead.fields_of(item.as_row()) for item in result.rows]
    return JSONBody(page_fields(items, total=result.total, params=pagination))
