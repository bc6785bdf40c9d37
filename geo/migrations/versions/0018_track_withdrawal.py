"""tracks can be withdrawn (撤回): withdrawn_at, withdrawn_by, withdraw_reason

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26

A track uploaded by mistake (the wrong file, someone else's walk, a test walk) kept its credit
in every report, and tests removed tracks with raw SQL. A withdrawn track keeps its row and
its uploaded bytes (nothing a steward sent is lost, and the audit log can name the file), but
its status is ``withdrawn``: its patrol visits and fixes are deleted, every status-driven
reader (the match queue, the stale-upload drain, the reports' "waiting" note) passes it by,
and the same bytes are not taken again (geo.track_withdraw). The check ties the status to the
time so that no code path (a re-match, a mode change racing the withdrawal) can bring back a
withdrawn track's credit by setting its status alone: such a write fails instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tracks", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tracks", sa.Column("withdrawn_by", sa.Text(), nullable=True))
    op.add_column("tracks", sa.Column("withdraw_reason", sa.Text(), nullable=True))
    op.drop_constraint("ck_tracks_status", "tracks", type_="check")
    op.create_check_constraint(
        "ck_tracks_status",
        "tracks",
        "status IN ('stored', 'queued', 'matched', 'failed', 'withdrawn')",
    )
    op.create_check_constraint(
        "ck_tracks_withdrawn", "tracks", "(status = 'withdrawn') = (withdrawn_at IS NOT NULL)"
    )


def downgrade() -> None:
    # a withdrawn track must not come back counted: gone whole (its visits are gone already)
    op.execute("DELETE FROM tracks WHERE status = 'withdrawn'")
    op.drop_constraint("ck_tracks_withdrawn", "tracks", type_="check")
    op.drop_constraint("ck_tracks_status", "tracks", type_="check")
    op.create_check_constraint(
        "ck_tracks_status", "tracks", "status IN ('stored', 'queued', 'matched', 'failed')"
    )
    for column in ("withdraw_reason", "withdrawn_by", "withdrawn_at"):
        op.drop_column("tracks", column)
