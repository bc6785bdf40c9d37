"""tracks.changed_at: when a track last changed as a client sees it, for an incremental sync

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-27

An outside tester's nightly sync of the district platform (T67 #4) pulled every track every
night: nothing told which had changed since the last run. ``changed_at`` is the time a track
last changed in any way ``GET /tracks`` shows (uploaded, queued, matched, failed, withdrawn,
restored, given to another person, mode or datum changed, flags re-judged, its file
replaced); ``GET /tracks?changed_since=`` lists those changed since a time, in the order of
``ix_tracks_changed_at``. The application sets it to ``now()`` in each such UPDATE: no
trigger, as restores and hand-overs run as a superuser and the schema stays plain SQL.

Tracks stored before get the latest time known of them: their upload, their newest match,
their withdrawal.
"""

from __future__ import annotations

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS / IS NULL: a database put back to an older revision by hand (the upgrade
    # tests do) has the column already, and keeps its times
    op.execute("ALTER TABLE tracks ADD COLUMN IF NOT EXISTS changed_at timestamptz")
    op.execute(
        "UPDATE tracks t SET changed_at = greatest(t.uploaded_at, "
        "(SELECT max(m.matched_at) FROM track_matches m WHERE m.track_id = t.id), "
        "t.withdrawn_at) WHERE t.changed_at IS NULL"
    )
    op.execute(
        "ALTER TABLE tracks ALTER COLUMN changed_at SET DEFAULT now(), "
        "ALTER COLUMN changed_at SET NOT NULL"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_tracks_changed_at ON tracks (changed_at, id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_tracks_changed_at")
    op.execute("ALTER TABLE tracks DROP COLUMN IF EXISTS changed_at")
