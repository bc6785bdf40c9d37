"""tracks.fixes_center: the mean of a track's fixes, to know a copied walk nudged

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27

The digest of a walk's fixes (0017) knows its exact copies only: an outside tester re-dated
an old walk with every fix moved by under half a metre, and it was credited as a new patrol.
Such a copy's fixes still lie on the stored walk's. The mean of a track's fixes, indexed,
finds the stored walks it may copy (a nudge moves the mean by centimetres); its fixes are
then compared one by one (geo.walk_digest.near_copy, geo.track_store._same_walk). Tracks
whose fixes are stored get their mean here; older ones, whose fixes retention dropped, none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tracks",
        sa.Column(
            "fixes_center",
            Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
    )
    op.execute(
        "UPDATE tracks t SET fixes_center = c.g FROM (SELECT track_id, "
        "ST_SetSRID(ST_MakePoint(avg(ST_X(geom)), avg(ST_Y(geom))), 4326) AS g "
        "FROM track_points GROUP BY track_id) c "
        "WHERE c.track_id = t.id AND t.fixes_sha256 IS NOT NULL"
    )
    op.create_index("ix_tracks_fixes_center", "tracks", ["fixes_center"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_index("ix_tracks_fixes_center", table_name="tracks")
    op.drop_column("tracks", "fixes_center")
