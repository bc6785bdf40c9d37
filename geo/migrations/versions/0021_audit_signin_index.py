"""The sign-ins of an address in the audit log, for the lockout count

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-25

The sign-in lockout (api.ratelimit) counted failures in each API process's memory: a
restart lifted every lock, each process counted on its own, and an admin could neither see
nor lift one. It now counts the ``signin.failure`` entries the audit log already holds,
after the pair's last ``signin.success`` or an admin's ``signin.unlock``. Every sign-in
reads them for its address: ``ix_audit_log_signin`` (address, id) holds the sign-in rows
only, so that read does not scan the whole log.
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_audit_log_signin ON audit_log ((detail ->> 'address'), id) "
        "WHERE action IN ('signin.failure', 'signin.success', 'signin.unlock')"
    )


def downgrade() -> None:
    op.drop_index("ix_audit_log_signin", table_name="audit_log")
