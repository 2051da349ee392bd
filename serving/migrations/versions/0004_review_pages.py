"""`review_page`: what a recommendation's review page shows (issue #14).

Beside the audit trail, written in the same transaction as the audit row and linked to it by
(`writer_id`, `seq`); keyed by the page's random id. Not append-only: rows older than
`DOSEWISE_REVIEW_RETENTION_DAYS` are purged. Indexed on `ts` for the purge.

Revision ID: 0004
Revises: 0002 (the lead re-chains it after 0003 at merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "review_page" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "review_page",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("writer_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("review_page")
