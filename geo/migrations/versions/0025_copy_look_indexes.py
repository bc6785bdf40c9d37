"""tracks: the indexes that keep an upload's look for the walk it copies flat as walks pile up

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-26

Every new upload looks for the stored walk it may copy (geo.track_copies.walk_holder). Two of
its reads searched the whole history of a place (outside tester T59, F8: uploads slowed from
44 to 32 tracks/s as a month filled; a year of a 4,000-steward city is ~1.4 million walks):

- the walks a file holds (a stored walk with fixes added: walks within the file's time span
  whose mean fix lies within its box) joined the span index (the hour) with the mean-fix
  index (every walk ever walked in the box: 42,872 entries of 66k walks at a peak hour).
  ``ix_tracks_span_center`` (span, mean fix) finds the walks within both at once (24 index
  pages at 1.4 million). Its mean fix is kept as an n-D box (``gist_geometry_ops_nd``, the
  look uses ``&&&``) so that the 2-D look nearest a mean fix keeps to
  ``ix_tracks_fixes_center`` rather than walk this one, ordered by time first;
- the walks whose mean fix lies nearest the new one's, live ones first, then withdrawn ones:
  each kind is now read nearest first, stopping at five; ``ix_tracks_withdrawn_center``
  finds the withdrawn ones (few) without passing every live walk of the place.

Building them reads the tracks table once (about 30 s at 1.4 million walks, uploads waiting).
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

INDEXES = (
    (
        "ix_tracks_span_center",
        "USING gist (tstzrange(started_at, ended_at, '[]'), fixes_center gist_geometry_ops_nd) "
        "WHERE fixes_center IS NOT NULL",
    ),
    ("ix_tracks_withdrawn_center", "USING gist (fixes_center) WHERE status = 'withdrawn'"),
)


def upgrade() -> None:
    for name, how in INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON tracks {how}")


def downgrade() -> None:
    for name, _ in INDEXES:
        op.drop_index(name, table_name="tracks")
