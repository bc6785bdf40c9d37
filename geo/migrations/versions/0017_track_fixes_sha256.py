"""tracks.fixes_sha256: the digest of a track's fixes, to know a copied walk

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25

The file's sha256 makes the same bytes one track, but one byte more (a newline, CRLF line
ends, the dates moved a day on) made a new track that was credited again: a steward's
yesterday re-sent as today, or another steward's walk sent as theirs (an outside tester).
A walk's fixes are never the same twice to the metre; their digest is kept, indexed, and an
upload whose fixes are a stored track's is that track (same times), that track with its
times put right (every time moved by a time zone, same person), or a copy, refused
(geo.track_store._same_walk). Tracks stored before this migration have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tracks", sa.Column("fixes_sha256", sa.String(64), nullable=True))
    op.create_index("ix_tracks_fixes_sha256", "tracks", ["fixes_sha256"])


def downgrade() -> None:
    op.drop_index("ix_tracks_fixes_sha256", table_name="tracks")
    op.drop_column("tracks", "fixes_sha256")
