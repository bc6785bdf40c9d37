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


def scope_codes(path: AreaPath) -> frozenset[str]:
    """The codes a planner's scope entry must equal for ``path`` to be in their scope.

    The areas on the path, each by its own code; the level-1 and level-2 grid codes a grid's
    code begins with; and the code prefixes (6, 9, 12 digits) of the widest area on the path:
    above it nothing is linked, so its code's nesting is all there is. Below it the links
    decide, so a community coded under one subdistrict but linked to another is the other's
    alone, as /coverage and the reports count it.
    """
    if not path:
        return frozenset()
    own, top = path[0], path[-1]
    codes = set(path)
    codes.update(own[:n] for n in (15, 18) if len(own) > n)
    codes.update(top[:n] for n in (6, 9, 12) if len(top) > n)
    return frozenset(codes)
