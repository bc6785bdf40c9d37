"""GiST index on each track's time span, for "the tracks walked on these days"

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

The patrol map (tracks whose fixes were dropped by retention), ``GET /tracks?since=&until=``
and ``tracks rematch --since`` select tracks whose [started_at, ended_at] overlaps a range of
local days. A range overlap (&&) on this index finds them without reading every track row.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_tracks_span ON tracks USING gist (tstzrange(started_at, ended_at, '[]'))"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_tracks_span")
