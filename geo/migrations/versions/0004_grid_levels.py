"""grid levels 2/3: hierarchical codes (15 / 18 / 20 digits)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Level-2 grids (a compound or a building) and level-3 grids (a unit, 单元) are stored in
``grids`` next to level 1. Their codes extend the parent's code, so the code alone names the
whole path and sorts with its parent:

* level 1: 15 digits, the DB11 单元网格标识码 (6 district + 3 subdistrict + 3 community
  + 3 grid sequence);
* level 2: the level-1 code + 3 digits (sequence west→east, north→south inside the level-1
  grid), 18 digits;
* level 3: the level-2 code + 2 digits (unit number along the building's long axis), 20 digits.

A 15-digit code for levels 2/3 (e.g. the community prefix + a sequence from a reserved range)
cannot work: the 3-digit sequence holds 999 codes per community, fewer than the units of a
community of a few hundred buildings, and it would lose the parent in the code. Because the
length fixes the level, ``(code, version)`` and the current-code index stay unique as they
are. Downgrading deletes the level-2/3 rows (the old schema cannot hold their codes).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CODE_CHECK = (
    "(level = 1 AND code ~ '^[0-9]{15}$') OR (level = 2 AND code ~ '^[0-9]{18}$') "
    "OR (level = 3 AND code ~ '^[0-9]{20}$')"
)


def upgrade() -> None:
    op.drop_constraint("ck_grids_code", "grids", type_="check")
    op.alter_column(
        "grids", "code", type_=sa.String(20), existing_type=sa.String(15), existing_nullable=False
    )
    op.create_check_constraint("ck_grids_code", "grids", CODE_CHECK)


def downgrade() -> None:
    op.execute("DELETE FROM grids WHERE level > 1")
    op.drop_constraint("ck_grids_code", "grids", type_="check")
    op.alter_column(
        "grids", "code", type_=sa.String(15), existing_type=sa.String(20), existing_nullable=False
    )
    op.create_check_constraint("ck_grids_code", "grids", "code ~ '^[0-9]{15}$'")
