"""A segment's past retirement periods are kept (segment_retirements)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24

Migration 0011 stored only a segment's current state (``street_segments.retired_at``). A
segment restored by a later import got ``retired_at = NULL`` and so counted as live on the
past days when it was retired: an alley's length of those days grew back (742 m became
1122 m in a review), and its steward's compliance for days already reported changed.

``segment_retirements`` holds each CLOSED retirement period of a segment: retired at
``retired_at``, live again at ``restored_at`` (written by the importer when it restores the
segment). The open period, if any, stays ``street_segments.retired_at``: one place holds the
current state, so the two cannot disagree. A segment is live at an instant T when neither its
``retired_at`` is before T nor a period has ``retired_at < T <= restored_at`` (the state just
before T, as 0011 judged a retirement at T itself).

No backfill: a restore before this migration left no trace of its period. Periods are few
(one per retire-and-restore of a segment), so readers load them whole; the index serves the
per-segment look-ups of the SQL readers (chief corridor, patrol map).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_retirements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "segment_id",
            sa.Integer(),
            sa.ForeignKey("street_segments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("restored_at > retired_at", name="ck_segment_retirements_period"),
    )
    op.create_index("ix_segment_retirements_segment", "segment_retirements", ["segment_id"])


def downgrade() -> None:
    op.drop_index("ix_segment_retirements_segment", table_name="segment_retirements")
    op.drop_table("segment_retirements")
