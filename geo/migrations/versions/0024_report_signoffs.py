"""report_signoffs: a period's report as it was signed (签发), kept as signed

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-26

The district's monthly evaluation (月评) and the subdistrict's weekly check (周查) are signed
and published (公示); afterwards a late withdrawal or a re-match changed the live figures and
ranks, and nothing in gridward gave back the figures that were signed. Each signing keeps the
report as ``GET /reports/{kind}`` gave it then (``report``, JSON) and its XLSX (``xlsx``, the
bytes, with their ``sha256``), never overwritten: signing the same period and area again is
version 2, 3 … (a correction). ``person_ids`` and ``street_ids``: the people and streets of the
signed report, which the live report's "changed since signing" note reads without reading the
stored report (geo.report_signoffs).
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF NOT EXISTS: a database put back to an older revision by hand (the upgrade tests do)
    # may still have it
    op.execute(
        "CREATE TABLE IF NOT EXISTS report_signoffs ("
        "id SERIAL PRIMARY KEY, "
        "kind VARCHAR(16) NOT NULL, "
        "period_start DATE NOT NULL, "
        "period_end DATE NOT NULL, "
        "area_code TEXT, "
        "share DOUBLE PRECISION NOT NULL, "
        "version INTEGER NOT NULL, "
        "signed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "
        "signed_by TEXT NOT NULL, "
        "note TEXT, "
        "data_as_of TIMESTAMP WITH TIME ZONE, "
        "report JSONB NOT NULL, "
        "xlsx BYTEA NOT NULL, "
        "sha256 VARCHAR(64) NOT NULL, "
        "person_ids INTEGER[] NOT NULL DEFAULT '{}'::integer[], "
        "street_ids INTEGER[] NOT NULL DEFAULT '{}'::integer[], "
        "CONSTRAINT ck_report_signoffs_kind CHECK (kind IN ('daily', 'weekly', 'monthly')), "
        "CONSTRAINT ck_report_signoffs_version CHECK (version >= 1), "
        "CONSTRAINT uq_report_signoffs_version UNIQUE (kind, period_start, area_code, version))"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS report_signoffs")
