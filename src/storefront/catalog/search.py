"""Full-text search over item names and descriptions: one question, two engines.

PostgreSQL: a stored generated `search_vector` tsvector column with a GIN index, queried
with `websearch_to_tsquery` (any user text is a valid query) and ranked by `ts_rank`.
SQLite: an external-content FTS5 table `search_item` kept in sync by triggers, queried
with the user's words quoted (FTS5 syntax never reaches it) and ranked by bm25.
Both are created by migration 0004 only; the models do not describe them.
"""

import re
from typing import Any

from sqlalchemy import Select, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnClause

from storefront.catalog.models import Item

TS_CONFIG = "english"
WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 16


def fts5_query(q: str) -> str | None:
    """The user's words, each quoted, all required: 'red "shoe' → '"red" "shoe"'."""
    words = WORD.findall(q)[:MAX_TERMS]
    return " ".join(f'"{word}"' for word in words) or None


def search_query(session: AsyncSession, q: str) -> Select[Item] | None:
    """A select of matching items, best first; None when the text holds no word."""
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
