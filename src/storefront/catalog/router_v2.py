"""Catalog API v2: item reads with `price` as an exact amount and its currency."""

from typing import Any

from storefront.catalog import service
from storefront.catalog.dependencies import Filters, ItemRow
from storefront.catalog.schemas import ItemReadV2
from storefront.core.db import DbInvalidations, DbReads
from storefront.core.problems import problem_responses
from storefront.core.ratelimit import RATE_LIMITED_RESPONSES
from storefront.kit.pagination import Page, Pagination, page_fields
from storefront.kit.responses import JSONBody
from storefront.kit.routing import domain_router

router = domain_router(prefix="/api/v2", tags=["catalog"])
router.responses.update(RATE_LIMITED_RESPONSES)


@router.get("/items", response_model=Page[ItemReadV2], responses=problem_responses(422))
async def list_items_v2(
    reads: DbReads, invalidations: DbInvalidations, filters: Filters, pagination: Pagination
) -> Any:
    result = await service.read_page(reads, invalidations, filters=filters, params=pagination)
    items = [ItemReadV2.fields_of(item) for item in result.rows]
    return JSONBody(page_fields(items, total=result.total, params=pagination))


@router.get("/items/{item_id}", response_model=ItemReadV2, responses=problem_responses(404, 422))
async def get_item_v2(item: ItemRow) -> Any:
    return JSONBody(ItemReadV2.fields_of(item))
