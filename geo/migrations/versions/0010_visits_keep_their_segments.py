"""A street segment with patrol visits can no longer be deleted (ON DELETE RESTRICT)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

Deleting a segment cascaded to its patrol visits: a steward's past compliance changed at once,
without a re-match and without anything saying so (an acceptance test lost 35 visits, 3 km of
credit, to one DELETE). Re-importing a street network never deletes segments; a segment that
was walked is history now and stays. Downgrade restores the cascade.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_FK = "patrol_visits_segment_id_fkey"


def _set(action: str) -> None:
    op.execute(
        f"ALTER TABLE patrol_visits DROP CONSTRAINT {_FK}, ADD CONSTRAINT {_FK} FOREIGN KEY "
        f"(segment_id) REFERENCES street_segments(id) ON DELETE {action}"
    )


def upgrade() -> None:
    _set("RESTRICT")


def downgrade() -> None:
    _set("CASCADE")
