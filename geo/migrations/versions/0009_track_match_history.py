"""Every match of a track is kept: when, fixes matched, pieces, datum hint, segments, metres

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23

Re-matching (``tracks rematch``, after the street network was corrected) replaces a track's
patrol visits, so a steward's compliance for a past month can change. ``track_matches`` keeps
one row per match, so a supervisor can see that it changed, when, and by how many metres.
It also takes over the last match's summary from ``tracks.matched_points`` and ``pieces``
(migration 0008): one place holds each match's figures.

Upgrade: every track matched so far gets one row, its time the upload's (the match time was
not recorded), its segments and metres from its current visits; fixes matched and pieces are
NULL for tracks matched before migration 0008 (not known without matching again).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "track_matches",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "track_id",
            sa.Integer(),
            sa.ForeignKey("tracks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "matched_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("matched_points", sa.Integer(), nullable=True),
        sa.Column("pieces", sa.Integer(), nullable=True),
        # the fixes look like another datum's (geo.tracks.datum): which, and how far off
        sa.Column("datum_hint", JSONB(), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("walked_m", sa.Float(), nullable=False),
    )
    op.create_index("ix_track_matches_track", "track_matches", ["track_id", "id"])
    op.execute(
        "INSERT INTO track_matches (track_id, matched_at, matched_points, pieces, segments, "
        "walked_m) "
        "SELECT t.id, t.uploaded_at, t.matched_points, t.pieces, count(v.segment_id), "
        "coalesce(sum(v.covered_fraction * s.length_m), 0) "
        "FROM tracks t LEFT JOIN patrol_visits v ON v.track_id = t.id "
        "LEFT JOIN street_segments s ON s.id = v.segment_id "
        "WHERE t.status = 'matched' OR t.matched_points IS NOT NULL "
        "OR EXISTS (SELECT 1 FROM patrol_visits w WHERE w.track_id = t.id) "
        "GROUP BY t.id ORDER BY t.id"
    )
    op.drop_column("tracks", "pieces")
    op.drop_column("tracks", "matched_points")


def downgrade() -> None:
    op.add_column("tracks", sa.Column("matched_points", sa.Integer(), nullable=True))
    op.add_column("tracks", sa.Column("pieces", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE tracks t SET matched_points = m.matched_points, pieces = m.pieces FROM "
        "(SELECT DISTINCT ON (track_id) track_id, matched_points, pieces FROM track_matches "
        "ORDER BY track_id, id DESC) m WHERE m.track_id = t.id"
    )
    op.drop_index("ix_track_matches_track", table_name="track_matches")
    op.drop_table("track_matches")
