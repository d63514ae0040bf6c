from decimal import Decimal
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from storefront.catalog import service
from storefront.catalog.listing import ItemFilters
from storefront.catalog.models import Item
from storefront.catalog.schemas import ItemSort
from storefront.core.config import Settings
from storefront.core.db import Database, DbSession
from storefront.core.statements import Row
from storefront.kit.deprecation import Deprecation
from storefront.kit.money import CENT, MAX_AMOUNT

# A number in the query; bounds are compared in whole cents (rounded half-even).
Price = Annotated[float, Query(ge=0, le=float(MAX_AMOUNT))]


def _cents(price: float | None) -> Decimal | None:
    return None if price is None else Decimal(repr(price)).quantize(CENT)


async def item_filters(
    category: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Name or description.")
    ] = None,
    min_price: Price | None = None,
    max_price: Price | None = None,
    sort: Annotated[ItemSort, Query()] = ItemSort.CREATED_AT_DESC,
) -> ItemFilters:
    return ItemFilters(
        category=category,
        q=q,
        min_price=_cents(min_price),
        max_price=_cents(max_price),
        sort=sort,
    )


Filters = Annotated[ItemFilters, Depends(item_filters)]
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def load_item(session: DbSession, item_id: ItemId) -> Item:
    """The item in the request's unit of work, for the routes that change it."""
    return await service.get(session, item_id)


CurrentItem = Annotated[Item, Depends(load_item)]


async def read_item(request: Request, item_id: ItemId) -> Row:
    database: Database = request.state.database
    return await service.read(database.reads, item_id)


ItemRow = Annotated[Row, Depends(read_item)]


def v1_deprecation(settings: Settings) -> Deprecation:
    """What the v1 item reads (marked deprecated) announce: v2 replaces them."""
    return Deprecation.of(
        deprecated_at=settings.api_v1_deprecated_at,
        sunset_at=settings.api_v1_sunset_at,
        prefix="/api/v1/",
        successor_prefix="/api/v2/",
    )
