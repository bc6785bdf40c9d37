"""tracks.flags, tracks.warnings, tracks.fixes_extent: what makes a walk doubtful, kept

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-25

An outside tester (T52, the district inspection office) had eight kinds of cheat credited in
full with nothing marking them: last week's walk replayed with fresh noise, a colleague's
walk copied, files generated from the alley lines, a phone left at home all day. Each match
now judges the walk (geo.track_flags) and keeps the reasons on the track, for the reports
and the patrol map: ``flags`` (a list of {code, message, other_track}). ``warnings`` keeps
what the upload answer said of the file (a GPX without a time zone, ...), which was shown
once and lost. ``fixes_extent`` (the box of its fixes, indexed) finds the stored walks a new
one may copy in part; the mean of the fixes (0019) finds only whole copies.
``track_matches.bridged_gaps`` / ``bridged_m``: GPS dropouts the matcher now credits along
the network when certain (T52 #9), kept with each match so the evaluator sees them.
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS: a database put back to an older revision by hand (the upgrade tests do)
    # still has them
    for name in ("flags", "warnings"):
        op.execute(
            f"ALTER TABLE tracks ADD COLUMN IF NOT EXISTS {name} jsonb NOT NULL DEFAULT '[]'::jsonb"
        )
    op.execute("ALTER TABLE tracks ADD COLUMN IF NOT EXISTS fixes_extent geometry(GEOMETRY, 4326)")
    op.execute(
        "UPDATE tracks t SET fixes_extent = e.g FROM (SELECT track_id, "
        "ST_Envelope(ST_Collect(geom)) AS g FROM track_points GROUP BY track_id) e "
        "WHERE e.track_id = t.id AND t.fixes_extent IS NULL"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_tracks_fixes_extent ON tracks USING gist (fixes_extent)"
    )
    # GPS dropouts credited along the network when certain (geo.tracks.match._bridge): how
    # many and how many metres, per match (NULL for matches made before)
    op.execute("ALTER TABLE track_matches ADD COLUMN IF NOT EXISTS bridged_gaps integer")
    op.execute("ALTER TABLE track_matches ADD COLUMN IF NOT EXISTS bridged_m double precision")


def downgrade() -> None:
    op.execute("ALTER TABLE track_matches DROP COLUMN IF EXISTS bridged_m")
    op.execute("ALTER TABLE track_matches DROP COLUMN IF EXISTS bridged_gaps")
    op.drop_index("ix_tracks_fixes_extent", table_name="tracks")
    for name in ("fixes_extent", "warnings", "flags"):
        op.drop_column("tracks", name)
