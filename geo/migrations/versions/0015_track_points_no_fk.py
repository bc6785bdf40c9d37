"""track_points without a foreign key to tracks: concurrent uploads no longer deadlock

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24

An upload inserts its ``tracks`` row, then COPYs its fixes into ``track_points``. The first
upload of a new UTC day makes that day's table first (geo.track_partitions), and creating a
partition of a table with a foreign key also locks the referenced table (``tracks``) to add
the key's triggers: it held ``track_points`` and waited for ``tracks``, while each upload in
flight held ``tracks`` and waited for ``track_points``. An acceptance tester's 20 uploads
on new days at once got 10 × 503 (PostgreSQL's deadlock detector), and 7–9 of 20 when one
of them was on a new day.

The key only guarded what the code already ensures: fixes are written in the transaction
that inserts their track, and tracks are never deleted (retention drops whole day tables).
Without it, making a day table locks ``track_points`` alone, so an upload waits for it
briefly and no cycle can form.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


# by what it is, not by name: 0006 made it while the old table still held
# track_points_track_id_fkey, so most databases call it ..._fkey1
_DROP_KEYS = """
DO $$
DECLARE c text;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint WHERE contype = 'f'
      AND conrelid = 'track_points'::regclass AND confrelid = 'tracks'::regclass LOOP
    EXECUTE format('ALTER TABLE track_points DROP CONSTRAINT %I', c);
  END LOOP;
END $$;
"""


def upgrade() -> None:
    op.execute(_DROP_KEYS)


def downgrade() -> None:
    op.execute(
        "ALTER TABLE track_points ADD CONSTRAINT track_points_track_id_fkey "
        "FOREIGN KEY (track_id) REFERENCES tracks(id) ON DELETE CASCADE"
    )
