"""patrol visits keep the walked stretches of each segment; people column defaults

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A segment walked twice on one day by two tracks must count the union of what was walked, not
the sum; storing each visit's covered stretches (fractions along the segment) makes the daily
union exact.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "patrol_visits",
        sa.Column(
            "intervals",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.create_index("ix_patrol_visits_person_day", "patrol_visits", ["person_id", "day"])
    op.create_index("ix_patrol_visits_track", "patrol_visits", ["track_id"])
    # people rows written by other tools (CSV loaders, SQL) get sensible defaults
    op.alter_column("people", "part_time", server_default=sa.text("false"))
    op.alter_column("people", "active", server_default=sa.text("true"))
    op.alter_column("people", "roles", server_default=sa.text("'{}'::text[]"))


def downgrade() -> None:
    op.alter_column("people", "roles", server_default=None)
    op.alter_column("people", "active", server_default=None)
    op.alter_column("people", "part_time", server_default=None)
    op.drop_index("ix_patrol_visits_track", table_name="patrol_visits")
    op.drop_index("ix_patrol_visits_person_day", table_name="patrol_visits")
    op.drop_column("patrol_visits", "intervals")
