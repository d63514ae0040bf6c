"""SQL over items. Stock moves are conditional updates: never a read-then-write.

Full-text search over names and descriptions is one question for two engines.
PostgreSQL: a stored generated `search_vector` tsvector column with a GIN index, queried
with `websearch_to_tsquery` (any user text is a valid query) and ranked by `ts_rank`.
SQLite: an external-content FTS5 table `search_item` kept in sync by triggers, queried
with the user's words quoted (FTS5 syntax never reaches it) and ranked by bm25.
Both are created by migration 0004 only; the models do not describe them.
"""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, bindparam, func, literal_column, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnClause

from storefront.catalog.models import Item
from storefront.core.statements import Row, Statements

ITEM = cast(Table, Item.__table__)
_ITEM_BY_ID = select(ITEM).where(ITEM.c.id == bindparam("item_id"))
_MOST_SOLD = (
    select(ITEM)
    .where(ITEM.c.units_sold > 0)
    .order_by(ITEM.c.units_sold.desc(), ITEM.c.id)
    .limit(bindparam("limit"))
)


async def read(reads: Statements, item_id: int) -> Row | None:
    return await reads.one(_ITEM_BY_ID, item_id=item_id)


async def read_most_sold(reads: Statements, *, limit: int) -> Sequence[Row]:
    return await reads.all(_MOST_SOLD, limit=limit)


async def get(
    session: AsyncSession, item_id: int, *, fresh: bool = False, lock: bool = False
) -> Item | None:
    """`fresh` reads the row again over what the session holds; `lock` also holds it."""
    return await session.get(Item, item_id, with_for_update=lock, populate_existing=fresh or lock)


async def get_by_sku(session: AsyncSession, sku: str) -> Item | None:
    return await session.scalar(select(Item).where(Item.sku == sku))


_QUANTITY = bindparam("quantity", type_=Integer())
_NOW = bindparam("now", type_=ITEM.c.updated_at.type)
_TAKE = (
    update(ITEM)
    .where(ITEM.c.id == bindparam("item_id"), ITEM.c.stock >= _QUANTITY)
    .values(
        stock=ITEM.c.stock - _QUANTITY,
        units_sold=ITEM.c.units_sold + _QUANTITY,
        updated_at=_NOW,
    )
    .returning(ITEM.c.price_minor, ITEM.c.currency)
)
_GIVE_BACK = (
    update(ITEM)
    .where(ITEM.c.id == bindparam("item_id"))
    .values(
        stock=ITEM.c.stock + _QUANTITY,
        units_sold=ITEM.c.units_sold - _QUANTITY,
        updated_at=_NOW,
    )
)


async def take(statements: Statements, item_id: int, quantity: int, *, now: datetime) -> Row | None:
    """Take `quantity` units if that many are in stock: the row's `price_minor` and
    `currency`, or None."""
    return await statements.one(_TAKE, item_id=item_id, quantity=quantity, now=now)


async def give_back(statements: Statements, item_id: int, quantity: int, *, now: datetime) -> None:
    await statements.run(_GIVE_BACK, item_id=item_id, quantity=quantity, now=now)


TS_CONFIG = "english"
WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 16


def fts5_query(q: str) -> str | None:
    """The user's words, each quoted, all required: 'red "shoe' → '"red" "shoe"'."""
    words = WORD.findall(q)[:MAX_TERMS]
    return " ".join(f'"{word}"' for word in words) or None


def matching(session: AsyncSession, q: str) -> Select[Item] | None:
    """A select of items matching `q`, best first; None when the text holds no word."""
    if session.get_bind().dialect.name == "postgresql":
        if not WORD.search(q):
            return None
        query = func.websearch_to_tsquery(TS_CONFIG, q)
        vector: ColumnClause[Any] = literal_column("item.search_vector")
        return (
            select(Item)
            .where(vector.op("@@")(query))
            .order_by(func.ts_rank(vector, query).desc(), Item.id)
        )
    match = fts5_query(q)
    if match is None:
        return None
    matches = (
        select(
            literal_column("rowid").label("item_id"),
            # A word in the name weighs ten times one in the description (as A vs B weights
            # do on PostgreSQL); bm25 is lower for better matches.
            literal_column("bm25(search_item, 10.0, 1.0)").label("rank"),
        )
        .select_from(text("search_item"))
        .where(text("search_item MATCH :match"))
        .subquery()
    )
    return (
        select(Item)
        .join(matches, matches.c.item_id == Item.id)
        .order_by(matches.c.rank, Item.id)
        .params(match=match)
    )
