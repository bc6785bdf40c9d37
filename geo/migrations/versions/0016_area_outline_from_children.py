"""An area outlined as the union of its children follows them (areas.outline_from_children)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24

An area import creates a missing subdistrict or district that the file names
(``subdistrict_code`` + ``subdistrict_name``) from the areas linked to it. Its outline was
that union once, at creation: a community linked to it by a later import stayed outside it,
and staffing, which looks for people and network near the stored outline, missed that
community's people. The flag says the outline is derived, so every area import recomputes
it from the children linked then; an area imported with its own outline keeps it.

Existing rows: false (no backfill). Which existing outlines were derived is not recorded, and
treating a surveyed outline as derived would overwrite it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "areas",
        sa.Column(
            "outline_from_children",
            sa.Boolean(),
            nullable=False,
            server_default=sa.text("false"),
        ),
    )


def downgrade() -> None:
    op.drop_column("areas", "outline_from_children")
