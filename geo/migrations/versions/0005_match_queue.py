"""tracks remember their travel mode and can wait in the match queue

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

A deferred upload is stored with status 'queued'; workers claim queued tracks with
SELECT … FOR UPDATE SKIP LOCKED (PostgreSQL is the queue: no broker to run), so the mode the
steward chose must be stored with the track.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tracks",
        sa.Column("mode", sa.String(length=8), server_default=sa.text("'walk'"), nullable=False),
    )
    op.create_check_constraint("ck_tracks_mode", "tracks", "mode IN ('walk', 'bike')")
    op.drop_constraint("ck_tracks_status", "tracks", type_="check")
    op.create_check_constraint(
        "ck_tracks_status", "tracks", "status IN ('stored', 'queued', 'matched', 'failed')"
    )
    op.create_index(
        "ix_tracks_queued",
        "tracks",
        ["id"],
        postgresql_where=sa.text("status = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tracks_queued", table_name="tracks")
    op.execute("UPDATE tracks SET status = 'stored' WHERE status = 'queued'")
    op.drop_constraint("ck_tracks_status", "tracks", type_="check")
    op.create_check_constraint(
        "ck_tracks_status", "tracks", "status IN ('stored', 'matched', 'failed')"
    )
    op.drop_constraint("ck_tracks_mode", "tracks", type_="check")
    op.drop_column("tracks", "mode")
