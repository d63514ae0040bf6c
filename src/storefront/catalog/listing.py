"""SQL of the item listing: filters, a sort order, a page, and its total.

`?page=N` is an offset, and skipping an offset costs the database work in proportion to
it (index entries read and thrown away). So each process remembers where the pages it
has served end (the sort key of a page's last row): the next page is then read from the
index right after it, whatever its number. The rows themselves are always read; what is
remembered is only a position, forgotten in every process as soon as any item is
created, changed or deleted (`forget_positions_after_commit`), in other processes within
`core.local_cache.TRUST_SECONDS`.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, String, Table, bindparam, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import UnaryExpression

from storefront.catalog.models import Item, ItemCount
from storefront.catalog.schemas import ItemSort
from storefront.core.invalidation import Invalidations, invalidate_after_commit
from storefront.core.statements import Row, Statements
from storefront.kit.money import to_minor
from storefront.kit.pagination import PageParams, PageResult

ITEM = cast(Table, Item.__table__)
POSITIONS = "catalog.page-positions"
ANY_ITEM = "items"
# The sort key and the tie-breaker, in the same direction, for each order.
SORTS: dict[ItemSort, tuple[Any, bool]] = {
    ItemSort.NAME: (ITEM.c.name, False),
    ItemSort.NAME_DESC: (ITEM.c.name, True),
    ItemSort.PRICE: (ITEM.c.price_minor, False),
    ItemSort.PRICE_DESC: (ITEM.c.price_minor, True),
    ItemSort.CREATED_AT: (ITEM.c.created_at, False),
    ItemSort.CREATED_AT_DESC: (ITEM.c.created_at, True),
}
# What a listing shows of an item (schemas.py shapes it).
LISTED = tuple(
    column for column in ITEM.columns if column.key not in ("units_sold", "image_original_key")
)
_ITEMS_COUNTED = select(ItemCount.items)


@dataclass(frozen=True)
class ItemFilters:
    category: str | None = None
    q: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    sort: ItemSort = ItemSort.CREATED_AT_DESC

    def values(self) -> dict[str, Any]:
        """The parameters of the listing's statements (those of the filters given)."""
        values = {
            "category": self.category,
            "pattern": _like_pattern(self.q) if self.q else None,
            "min_price": None if self.min_price is None else to_minor(self.min_price),
            "max_price": None if self.max_price is None else to_minor(self.max_price),
        }
        return {name: value for name, value in values.items() if value is not None}


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _order(sort: ItemSort) -> tuple[UnaryExpression[Any], ...]:
    key, descending = SORTS[sort]
    return (key.desc(), ITEM.c.id.desc()) if descending else (key.asc(), ITEM.c.id.asc())


@dataclass(frozen=True)
class _Statements:
    by_offset: Select[Any]
    after_position: Select[Any]
    count: Select[Any]


@cache
def _statements(filters: frozenset[str], sort: ItemSort) -> _Statements:
    """The statements of one combination of filters and one order; values are parameters.

    By offset, the page's ids are found from the order's index alone (PostgreSQL skips
    the offset there without reading rows), then only those rows are read. Without
    filters, the total is item_count's, in the same statement.
    """
    conditions: list[ColumnElement[bool]] = []
    if "category" in filters:
        conditions.append(ITEM.c.category == bindparam("category"))
    if "pattern" in filters:
        pattern = bindparam("pattern", type_=String())
        conditions.append(
            or_(
                ITEM.c.name.ilike(pattern, escape="\\"),
                ITEM.c.description.ilike(pattern, escape="\\"),
            )
        )
    if "min_price" in filters:
        conditions.append(ITEM.c.price_minor >= bindparam("min_price"))
    if "max_price" in filters:
        conditions.append(ITEM.c.price_minor <= bindparam("max_price"))
    order = _order(sort)
    columns: list[Any] = list(LISTED)
    count = select(func.count()).select_from(ITEM).where(*conditions)
    if not conditions:
        count = _ITEMS_COUNTED
        columns.append(_ITEMS_COUNTED.scalar_subquery().label("total"))
    ids = (
        select(ITEM.c.id)
        .where(*conditions)
        .order_by(*order)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    by_offset = select(*columns).join_from(ITEM, ids, ids.c.id == ITEM.c.id).order_by(*order)
    key, descending = SORTS[sort]
    position = tuple_(key, ITEM.c.id)
    after = tuple_(bindparam("after_key", type_=key.type), bindparam("after_id"))
    after_position = (
        select(*columns)
        .where(*conditions, position < after if descending else position > after)
        .order_by(*order)
        .limit(bindparam("limit"))
    )
    return _Statements(by_offset, after_position, count)


async def read_page(
    reads: Statements, invalidations: Invalidations, filters: ItemFilters, params: PageParams
) -> PageResult[Row]:
    values = filters.values()
    statements = _statements(frozenset(values), filters.sort)
    positions = invalidations.cache(POSITIONS, ttl_seconds=60, max_entries=10_000)
    where = (filters, params.per_page)
    stamp = positions.stamp()
    after = positions.get((where, params.page)) if params.page > 1 else None
    if after is None:
        rows = await reads.all(
            statements.by_offset, limit=params.per_page, offset=params.offset, **values
        )
    else:
        after_key, after_id = after
        rows = await reads.all(
            statements.after_position,
            limit=params.per_page,
            after_key=after_key,
            after_id=after_id,
            **values,
        )
    if len(rows) == params.per_page:
        last = rows[-1]
        sort_key = SORTS[filters.sort][0].key
        ends_at = (last[sort_key], last["id"])
        positions.put((where, params.page + 1), ends_at, stamp=stamp, tags=[ANY_ITEM])
    if rows and statements.count is _ITEMS_COUNTED:
        total = rows[0]["total"]
    else:
        total = await reads.scalar(statements.count, **values) or 0
    return PageResult(rows=rows, total=total, params=params)


def forget_positions_after_commit(session: AsyncSession) -> None:
    """An item was created, changed or deleted: pages may start elsewhere now."""
    invalidate_after_commit(session, POSITIONS, ANY_ITEM, urgent=False)
