"""A segment added by a re-import counts from then on (street_segments.added_at)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24

Migrations 0011 and 0012 keep a past day's network when segments leave it, but a segment that
a later import ADDS (a newly mapped alley, a way re-split at a new junction) counted on every
past day too: the alley of last week grew by the new length, so last week's share walked
dropped and a day already reported as patrolled could turn missed. ``added_at`` is when a
re-import brought the segment into a network that already existed there; a day counts it
only when it was added before the day's local end (the same rule as ``retired_at``).

NULL: it has been there from the start. The first import of an area leaves it NULL on
purpose, and so does every existing row (no backfill): walks made before the network was
first imported, uploaded later, must be reported on the network as imported, or a city that
loads its streets after its stewards started walking would see nothing for those days.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "street_segments", sa.Column("added_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("street_segments", "added_at")
