"""Catalog API v2: item reads with `price` as an exact amount and its currency."""

from typing import Any

from storefront.auth.dependencies import IDENTIFY_CLIENT
from storefront.catalog import service
from storefront.catalog.dependencies import CurrentItem, Filters
from storefront.catalog.schemas import ItemReadV2
from storefront.core.db import DbSession
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import DEFAULT_RATE_LIMIT, RATE_LIMITED_RESPONSES
from storefront.kit.pagination import Page, Pagination
from storefront.kit.routing import domain_router

router = domain_router(prefix="/api/v2", tags=["catalog"])
router.dependencies.extend([IDENTIFY_CLIENT, DEFAULT_RATE_LIMIT])
router.responses.update(RATE_LIMITED_RESPONSES)


@router.get("/items", response_model=Page[ItemReadV2], responses=problem_responses(422))
async def list_items_v2(session: DbSession, filters: Filters, pagination: Pagination) -> Any:
    result = await service.list_items(session, filters=filters, params=pagination)
    return Page[ItemReadV2].of(
        [ItemReadV2.of(item) for item in result.rows], total=result.total, params=pagination
    )


@router.get("/items/{item_id}", response_model=ItemReadV2, responses=problem_responses(404, 422))
async def get_item_v2(item: CurrentItem) -> ItemReadV2:
    return ItemReadV2.of(item)
