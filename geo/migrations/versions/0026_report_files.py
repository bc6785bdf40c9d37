"""report_files: the files background report jobs made, kept for a day for their download

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-26

A city's monthly report takes 10–20 s to build and write, longer with several evaluators at
once (outside tester T59: 63–75 s a call with four at once, a 504 behind a 60 s proxy).
``POST /reports/{kind}/jobs`` makes it in the background; the file is kept here (the bytes,
their ``sha256``) for GRIDWARD_REPORT_FILE_KEEP_H and fetched from
``GET /reports/files/{job_id}`` by any API replica until its ``expires_at`` (set when it is
made, so every replica keeps it as long as it was promised). A job's file goes with its job.
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS: a database put back to an older revision by hand (the upgrade tests do)
    # may still have it
    op.execute(
        "CREATE TABLE IF NOT EXISTS report_files ("
        "job_id VARCHAR(36) PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE, "
        "name TEXT NOT NULL, "
        "media_type TEXT NOT NULL, "
        "size BIGINT NOT NULL, "
        "sha256 VARCHAR(64) NOT NULL, "
        "body BYTEA NOT NULL, "
        "created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "
        "expires_at TIMESTAMP WITH TIME ZONE NOT NULL)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS report_files")
