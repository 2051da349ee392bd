"""`monitoring_log.scored_plan`: which plan a row's per-modality predictions are of (issue #15).

Why: in a silent (shadow) deployment the service answers but the clinic delivers its own
(usual-care) prescription, and the monitor must score each session against the prediction of
the plan that was delivered; `recommended` (the service's own plan, an active deployment) or
`usual_care`. Nullable: rows written before this revision have none and mean `recommended`.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("monitoring_log")}
    if "scored_plan" in columns:
        return
    # a nullable column: a plain ALTER TABLE ADD COLUMN on both backends (no table rebuild)
    op.add_column("monitoring_log", sa.Column("scored_plan", sa.String(16), nullable=True))
