"""idempotency records keep the response as sent (text), not as parsed JSON

JSONB reorders an object's keys, so a replayed response differed from the first one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("idempotency_record", sa.Column("response", sa.Text(), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    as_text = "response_body::text" if postgres else "response_body"
    op.execute(f"UPDATE idempotency_record SET response = {as_text}")
    with op.batch_alter_table("idempotency_record") as batch:
        batch.alter_column("response", existing_type=sa.Text(), nullable=False)
        batch.drop_column("response_body")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    body_type = sa.dialects.postgresql.JSONB() if postgres else sa.JSON()
    op.add_column("idempotency_record", sa.Column("response_body", body_type, nullable=True))
    as_json = "response::jsonb" if postgres else "response"
    op.execute(f"UPDATE idempotency_record SET response_body = {as_json}")
    with op.batch_alter_table("idempotency_record") as batch:
        batch.alter_column("response_body", existing_type=body_type, nullable=False)
        batch.drop_column("response")
