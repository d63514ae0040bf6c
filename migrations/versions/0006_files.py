"""files: uploaded files, and the original of an item's image

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "file",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", USER_ID, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_file_size_not_negative")),
        sa.CheckConstraint("length(sha256) = 64", name=op.f("ck_file_sha256_hex")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_file_owner_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_file_storage_key")),
    )
    op.create_index(op.f("ix_file_owner_id"), "file", ["owner_id"])
    op.add_column("item", sa.Column("image_original_key", sa.String(length=255), nullable=True))


def downgrade() -> None:
    # Not batch mode: recreating `item` on SQLite would drop its search triggers. A plain
    # DROP COLUMN needs SQLite 3.35 or later.
    op.drop_column("item", "image_original_key")
    op.drop_index(op.f("ix_file_owner_id"), table_name="file")
    op.drop_table("file")
