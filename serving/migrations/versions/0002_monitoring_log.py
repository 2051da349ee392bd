"""`monitoring_log`: per recommendation, the model input row and the predictions (issue #15 item 1).

Beside the audit trail, written in the same transaction as the audit row and linked to it by
(`writer_id`, `seq`). Not append-only: rows older than `DOSEWISE_MONITORING_RETENTION_DAYS` are
purged (the audit trail is never purged). Indexed on `ts` for the purge and for `monitor --since`.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "monitoring_log" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "monitoring_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("writer_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False, index=True),
        sa.Column("as_of", sa.String(10), nullable=False),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("predictions", sa.JSON, nullable=True),
        sa.Column("tolerance_model", sa.String(128), nullable=False),
        sa.Column("tolerance_version", sa.String(32), nullable=False),
        sa.Column("adherence_model", sa.String(128), nullable=False),
        sa.Column("adherence_version", sa.String(32), nullable=False),
        sa.UniqueConstraint("writer_id", "seq", name="uq_monitoring_log_audit_row"),
    )
