"""item listing: an index per sort order, and the number of items kept by triggers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORT_INDEXES = {
    "ix_item_created_at_id": ["created_at", "id"],
    "ix_item_name_id": ["name", "id"],
    "ix_item_price_minor_id": ["price_minor", "id"],
}
POSTGRES_COUNTING = [
    """CREATE FUNCTION item_count_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE item_count SET items = items + 1;
        ELSE
            UPDATE item_count SET items = items - 1;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER item_count_follow AFTER INSERT OR DELETE ON item
        FOR EACH ROW EXECUTE FUNCTION item_count_follow()""",
]
SQLITE_COUNTING = [
    """CREATE TRIGGER item_count_insert AFTER INSERT ON item BEGIN
        UPDATE item_count SET items = items + 1;
    END""",
    """CREATE TRIGGER item_count_delete AFTER DELETE ON item BEGIN
        UPDATE item_count SET items = items - 1;
    END""",
]


def upgrade() -> None:
    op.drop_index("ix_item_price_minor", table_name="item")
    for name, columns in SORT_INDEXES.items():
        op.create_index(name, "item", columns)
    op.create_table(
        "item_count",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_item_count_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_count")),
    )
    op.execute("INSERT INTO item_count (id, items) SELECT 1, count(*) FROM item")
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_COUNTING if postgres else SQLITE_COUNTING:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER item_count_follow ON item")
        op.execute("DROP FUNCTION item_count_follow()")
    else:
        op.execute("DROP TRIGGER item_count_insert")
        op.execute("DROP TRIGGER item_count_delete")
    op.drop_table("item_count")
    for name in SORT_INDEXES:
        op.drop_index(name, table_name="item")
    op.create_index("ix_item_price_minor", "item", ["price_minor"])
