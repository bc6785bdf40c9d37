"""Each track's match summary: fixes matched and pieces

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

A supervisor listing tracks (GET /tracks) sees at a glance which ones the matcher could not
place on the network (few fixes matched) or that broke into pieces (the phone lost its fix).
Both are NULL until the track is matched (again).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tracks", sa.Column("matched_points", sa.Integer(), nullable=True))
    op.add_column("tracks", sa.Column("pieces", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("tracks", "pieces")
    op.drop_column("tracks", "matched_points")
