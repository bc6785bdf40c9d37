"""tracks.fixes_sha256 and fixes_center for the tracks stored before 0017 and 0019

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28

0017 added the digest of a track's fixes for new uploads only, and 0019 the mean of its
fixes only where a digest was. Copy detection (geo.track_copies.walk_holder) looks a walk up
by these two, so on an upgraded install none of the tracks stored before it was ever found:
an old walk sent again with its times moved was stored and credited, where a fresh install
refused it (an outside tester). Each track lacking them gets both here, by the upload's own
functions (geo.walk_digest.fixes_digest, geo.track_store._center_ewkt) on its fixes as
re-matching reads them (geo.track_points.read_track_points: the stored fixes, or the kept file
re-read where retention dropped them). A track whose file cannot be read any more keeps none
(named on stderr); the upgrade goes on.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

BATCH = 200  # tracks read at once, and a progress line after each BATCH * 5
_ZH = "补算轨迹指纹"


def _fixes(conn: Any, ids: list[int]) -> dict[int, pd.DataFrame | None]:
    """Each track's fixes in upload order, None for a track whose fixes cannot be read (its
    file refused by today's reader). WHY one by one on a failure: one bad file must not
    leave its whole batch without a digest. A database error is not caught: it fails the
    upgrade, which then names it (geo.db.migrate)."""
    from geo.errors import db_failure
    from geo.track_points import read_track_points

    try:
        pts = read_track_points(conn, ids)
    except Exception as exc:
        if db_failure(exc) is not None or len(ids) == 1:
            raise
        out: dict[int, pd.DataFrame | None] = {}
        for tid in ids:
            try:
                out.update(_fixes(conn, [tid]))
            except Exception as one:
                if db_failure(one) is not None:
                    raise
                out[tid] = None
        return out
    groups = {int(k): g for k, g in pts.groupby("track_id", sort=False)}
    return {tid: groups.get(tid) for tid in ids}


def upgrade() -> None:
    from geo.db import say
    from geo.track_store import _center_ewkt
    from geo.walk_digest import fixes_digest

    conn = op.get_bind()
    ids = [
        int(r[0])
        for r in conn.execute(
            sa.text(
                "SELECT id FROM tracks WHERE fixes_sha256 IS NULL OR fixes_center IS NULL "
                "ORDER BY id"
            )
        )
    ]
    if not ids:
        return
    say(
        f"{_ZH} computing the copy-detection digests of {len(ids)} tracks stored before this upgrade"
    )
    unreadable: list[int] = []
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        for tid, pts in _fixes(conn, batch).items():
            if pts is None or pts.empty:
                unreadable.append(tid)
                continue
            digest = fixes_digest(pts)
            conn.execute(
                sa.text(
                    "UPDATE tracks SET fixes_sha256 = coalesce(fixes_sha256, :f), "
                    "fixes_center = coalesce(fixes_center, ST_GeomFromEWKT(:c)) WHERE id = :t"
                ),
                {"f": digest, "c": _center_ewkt(pts, digest), "t": tid},
            )
        done = start + len(batch)
        if done % (BATCH * 5) == 0 and done < len(ids):
            say(f"{_ZH} {done}/{len(ids)} tracks")
    if unreadable:
        shown = ", ".join(str(t) for t in unreadable[:20]) + (" …" if len(unreadable) > 20 else "")
        say(
            f"{_ZH} {len(unreadable)} tracks kept without (their fixes and file cannot be "
            f"read; copies of them are not found): {shown}"
        )
    say(f"{_ZH} {len(ids)}/{len(ids)} tracks done")


def downgrade() -> None:
    """Nothing to undo: 0017 and 0019's downgrades drop the columns."""
