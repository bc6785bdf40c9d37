"""Audit look-ups of one target's entries, and of the staffing commit that started a duty

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24

Undoing a duty (geo.duty_undo) reads the ``assignments.set`` entry that created it: the
newest entry of that street, alley or grid. Without an index that read every audit row, and
the log only grows (every edit, import and upload adds one). ``ix_audit_log_target``
(target_type, target_id, id) finds a target's entries, newest first, directly.

A duty started by a staffing commit has no entry of its own target: the commit writes one
row for its whole area, listing the duties it started (``detail -> 'started_ids'``).
``ix_audit_log_commit_started`` is a GIN index on that list, of commit rows only (small),
so finding the commit behind a duty id does not read every commit's detail.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id", "id"])
    op.execute(
        "CREATE INDEX ix_audit_log_commit_started ON audit_log USING gin "
        "((detail -> 'started_ids') jsonb_path_ops) WHERE action = 'assignments.commit'"
    )


def downgrade() -> None:
    op.drop_index("ix_audit_log_commit_started", table_name="audit_log")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
