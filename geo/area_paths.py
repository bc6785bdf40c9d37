"""The codes a planner's scope is checked against: an area or grid and every area above it.

WHY by parent link and not only by code prefix: a planner's scope is a list of code prefixes
(issue 2), and real codes nest (GB/T 2260: a community's 12 digits begin with its
subdistrict's 9), but an import may link a community to a subdistrict by ``parent_code``
while its own code does not begin with the subdistrict's. Coverage, reports and staffing
count such a community under its parent (:mod:`geo.street_areas`), so a planner of that
subdistrict must be able to edit it too. A path is checked by
:meth:`geo.accounts.Principal.covers_area`: covered when any of its codes is.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

AreaPath = tuple[str, ...]
"""Codes from the deepest (a grid's or area's own) to the widest (its district)."""

_UP = (
    "WITH RECURSIVE up(id, code, depth) AS ("
    " SELECT a.id, a.code, 0 FROM areas a WHERE a.id = coalesce("
    "  (SELECT id FROM areas WHERE code = :c),"
    "  (SELECT community_id FROM grids WHERE code = :c ORDER BY retired_at IS NULL DESC,"
    "   version DESC LIMIT 1))"
    " UNION ALL SELECT p.id, p.code, u.depth + 1 FROM up u JOIN areas p ON p.id = "
    "  (SELECT parent_id FROM areas WHERE id = u.id) WHERE u.depth < 8"
    ") SELECT code FROM up ORDER BY depth"
)


def area_path(conn: Connection, code: str | None) -> AreaPath:
    """``code`` (an area's or a grid's) followed by the codes of the areas above it by parent
    link: a grid's community, then that community's parents. Empty for no code; just
    ``(code,)`` for a code that is in no table (the caller decides what that means)."""
    if not code:
        return ()
    above = conn.execute(text(_UP), {"c": code}).scalars().all()
    return (code, *(c for c in above if c != code))
