"""`monitoring_log.modality_predictions`: P(tolerate) and P(attend) of one session of each
prescribed modality at the prescribed dose (issue #15 remainder).

Why: a label is one session of one modality, and training's held-out evaluation scores it
against that modality's prediction; the answer's `predictions` (the lower tolerance of the two
modalities, the session-weighted attendance) are not that number. Nullable: rows written before
this revision have none, and the monitor falls back to `predictions` for them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("monitoring_log")}
    if "modality_predictions" in columns:
        return
    # a nullable column: a plain ALTER TABLE ADD COLUMN on both backends (no table rebuild)
    op.add_column("monitoring_log", sa.Column("modality_predictions", sa.JSON, nullable=True))
