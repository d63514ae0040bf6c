"""`?page=&per_page=` in, `{"items", "total", "page", "per_page", "pages"}` out (SPEC §3)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

MAX_PER_PAGE = 100
ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class PageParams:
    page: int = 1
    per_page: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


async def page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number.")] = 1,
    per_page: Annotated[
        int, Query(ge=1, le=MAX_PER_PAGE, description="Items per page (at most 100).")
    ] = 20,
) -> PageParams:
    return PageParams(page=page, per_page=per_page)


Pagination = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int
    page: int
    per_page: int
    pages: int

    @classmethod
    def of(cls, items: Sequence[Any], *, total: int, params: PageParams) -> "Page[ItemT]":
        return cls(
            items=list(items),
            total=total,
            page=params.page,
            per_page=params.per_page,
            pages=math.ceil(total / params.per_page) if total else 0,
        )


def page_fields(items: list[Any], *, total: int, params: PageParams) -> dict[str, Any]:
    """A `Page`'s JSON object, for a route that answers with its body ready-made."""
    return {
        "items": items,
        "total": total,
        "page": params.page,
        "per_page": params.per_page,
        "pages": math.ceil(total / params.per_page) if total else 0,
    }


@dataclass(frozen=True)
class PageResult(Generic[ItemT]):
    """One page of ORM rows and the total they were taken from."""

    rows: Sequence[ItemT]
    total: int
    params: PageParams


async def fetch_page(
    session: AsyncSession, query: Select[ItemT], params: PageParams
) -> PageResult[ItemT]:
    """Run `query` (already filtered and ordered) for one page, and count all its rows."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.scalars(query.limit(params.per_page).offset(params.offset))).all()
    return PageResult(rows=rows, total=total or 0, params=params)
