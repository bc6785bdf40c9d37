"""Street segments and streets can be retired (retired_at) instead of deleted

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24

Re-importing an OSM file upserted segments by uid and never took away the ones whose way was
gone from the new file (deleted in OSM, or re-split so its uid changed): they stayed matchable,
new walks were credited to streets that no longer exist, and an alley's length kept them, so
its steward could never reach the patrolled share. A walked segment cannot be deleted
(migration 0010: its visits are history), so the importer now retires it: ``retired_at`` is
when it left the network (NULL: live). Everything that reads the current network skips retired
segments; reports of a past day count the segments that were live on that day.

``streets.retired_at`` is set by the same import when none of a street's segments is live any
more (a stored column rather than derived on every read: staffing, coverage rates and layers
filter streets as they filter grids, ``retired_at IS NULL``, and it says when the street went).

No index: retired rows are a small minority, so ``retired_at IS NULL`` selects nearly every
row; the queries that read the live network either read it whole (matching network, reports)
or are driven by the GiST index on ``geom`` (tiles, layers, plans), with the column as a filter.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("street_segments", "streets"):
        op.add_column(table, sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("street_segments", "streets"):
        op.drop_column(table, "retired_at")
