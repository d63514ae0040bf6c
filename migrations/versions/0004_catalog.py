"""catalog: items, and full-text search (a tsvector on PostgreSQL, FTS5 on SQLite)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Kept in step with item by triggers; `rowid` is item.id (external content table).
SQLITE_SEARCH = [
    """CREATE VIRTUAL TABLE search_item USING fts5(
        name, description, content='item', content_rowid='id', tokenize='porter unicode61'
    )""",
    """CREATE TRIGGER search_item_ai AFTER INSERT ON item BEGIN
        INSERT INTO search_item(rowid, name, description)
        VALUES (new.id, new.name, new.description);
    END""",
    """CREATE TRIGGER search_item_ad AFTER DELETE ON item BEGIN
        INSERT INTO search_item(search_item, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
    END""",
    """CREATE TRIGGER search_item_au AFTER UPDATE OF name, description ON item BEGIN
        INSERT INTO search_item(search_item, rowid, name, description)
        VALUES ('delete', old.id, old.name, old.description);
        INSERT INTO search_item(rowid, name, description)
        VALUES (new.id, new.name, new.description);
    END""",
]
POSTGRES_SEARCH = [
    """ALTER TABLE item ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(name, '')), 'A')
        || setweight(to_tsvector('english', coalesce(description, '')), 'B')
    ) STORED""",
    "CREATE INDEX search_item_vector ON item USING gin (search_vector)",
]


def upgrade() -> None:
    op.create_table(
        "item",
        sa.Column("id", BigId, nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("units_sold", sa.Integer(), nullable=False),
        sa.Column("image_key", sa.String(length=255), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_item_price_not_negative")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_item_stock_not_negative")),
        sa.CheckConstraint("units_sold >= 0", name=op.f("ck_item_units_sold_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item")),
        sa.UniqueConstraint("sku", name=op.f("uq_item_sku")),
    )
    op.create_index(op.f("ix_item_category"), "item", ["category"])
    op.create_index(op.f("ix_item_price_minor"), "item", ["price_minor"])
    op.create_index(op.f("ix_item_units_sold"), "item", ["units_sold"])
    statements = SQLITE_SEARCH if op.get_bind().dialect.name == "sqlite" else POSTGRES_SEARCH
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_item")
    op.drop_index(op.f("ix_item_units_sold"), table_name="item")
    op.drop_index(op.f("ix_item_price_minor"), table_name="item")
    op.drop_index(op.f("ix_item_category"), table_name="item")
    op.drop_table("item")
