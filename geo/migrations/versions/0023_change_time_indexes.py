"""What changed after a time: audit entries by action and time, uploads and matches by time

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-25

A closed period's report names what changed after it ended (geo.closed_changes): audit
entries of some actions since the period closed, walks uploaded since, walks matched again
since. Each read scanned its whole table, which only grows (every upload adds an audit entry,
a track and a match: a year of a 4,000-steward city is ~1.5 million of each); with 1.5 million
audit rows the audit read took 97 ms per report, 1.2 ms with ``ix_audit_log_action_at``
(action, at). ``ix_tracks_uploaded_at`` and ``ix_track_matches_matched_at`` serve the other
two reads the same way.
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_audit_log_action_at", "audit_log", "(action, at)"),
    ("ix_tracks_uploaded_at", "tracks", "(uploaded_at)"),
    ("ix_track_matches_matched_at", "track_matches", "(matched_at)"),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {columns}")


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
