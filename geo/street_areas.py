"""Which area a street or alley belongs to: one rule for staffing, coverage rates (覆盖率),
patrol reports and the planners who may edit its duties.

WHY one rule: ``/coverage`` and the staffing solver used to take the streets with half their
length inside the area, while the reports gave each street to the community holding most
of it, however little that was. One subdistrict showed 86 alleys in ``/coverage`` and 97 in
its report (acceptance tester): an alley lying 10 % inside a community was that community's
in the report, and nobody's to staff.

The rule, level by level (community 社区 or village, subdistrict 街道 or township, district):

* community: the community holding most of the street's length, when at least half of the
  length lies inside communities; otherwise the street lies outside every community;
* subdistrict: its community's parent; for a street outside every community (or a community
  without a parent), the subdistrict chosen as a community is;
* district: likewise, from its subdistrict.

So the levels nest: a community's streets are among its subdistrict's, every street is
counted in at most one area of each level, and a street split between two communities
(40 % / 40 %) is one of theirs rather than no one's. Lengths are geodesic (metres): in
degrees a north-south piece would weigh 1 / cos(latitude) times an east-west one. Ties go to
the lower code.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

COMMUNITY_LEVELS = "('community', 'village')"
SUBDISTRICT_LEVELS = "('subdistrict', 'township')"
DISTRICT_LEVELS = "('district')"

# the codes of a street's areas, deepest first (columns of street_areas_sql)
AREA_CODES = ["community_code", "subdistrict_code", "district_code"]
# the columns of street_areas_sql, after alley_id
AREA_COLUMNS = [
    "community_code",
    "community_name",
    "subdistrict_code",
    "subdistrict_name",
    "district_code",
    "district_name",
]


def _most(levels: str) -> str:
    """The area of ``levels`` holding most of street ``st`` (length ``l.len``), when the
    areas of those levels hold at least half of it together. WHY the union: a street along
    the edge two communities share, or through two that overlap, lies in both; summed per
    community, such a stretch counted twice (学堂路, 49.96 % inside the demo's communities,
    read 57 %)."""
    return (
        "WITH y AS (SELECT a.id, a.code, a.name, a.parent_id, "
        "ST_Intersection(st.geom, a.geom) AS piece "
        f"FROM areas a WHERE a.level IN {levels} AND a.geom && st.geom "
        "AND ST_Intersects(st.geom, a.geom)) "
        "SELECT y.id, y.code, y.name, y.parent_id FROM y "
        "WHERE (SELECT ST_Length(ST_Union(piece)::geography) FROM y) >= 0.5 * l.len "
        "ORDER BY ST_Length(y.piece::geography) DESC, y.code LIMIT 1"
    )


def _above(child: str, levels: str) -> str:
    """The parent of ``child``'s area, or (no area there, or one without a parent) the area
    of ``levels`` holding most of the street."""
    return (
        f"SELECT p.id, p.code, p.name, p.parent_id FROM areas p WHERE p.id = {child}.parent_id "
        f"UNION ALL (SELECT * FROM ({_most(levels)}) m WHERE {child}.parent_id IS NULL) "
        "LIMIT 1"
    )


def street_areas_sql(where: str = "") -> str:
    """One row per street of ``streets st`` (filtered by ``where``, e.g. ``WHERE st.id =
    :i``): ``alley_id`` and its area of each level (:data:`AREA_COLUMNS`; NULL when it lies
    outside every area of that level)."""
    return (
        "SELECT st.id AS alley_id, c.code AS community_code, c.name AS community_name, "
        "s.code AS subdistrict_code, s.name AS subdistrict_name, "
        "d.code AS district_code, d.name AS district_name FROM streets st "
        "CROSS JOIN LATERAL (SELECT ST_Length(st.geom::geography) AS len) l "
        f"LEFT JOIN LATERAL ({_most(COMMUNITY_LEVELS)}) c ON true "
        f"LEFT JOIN LATERAL ({_above('c', SUBDISTRICT_LEVELS)}) s ON true "
        f"LEFT JOIN LATERAL ({_above('s', DISTRICT_LEVELS)}) d ON true "
        f"{where}"
    )


def near_area_sql(area_id: str = ":a") -> str:
    """A filter on ``streets st``: the streets touching the area ``area_id`` (an SQL
    parameter) or one of the areas under it, the only ones that can belong to it. By parent
    link, as the rule goes: a community's code need not begin with its subdistrict's."""
    return (
        f"EXISTS (SELECT 1 FROM areas u WHERE u.geom && st.geom AND (u.id = {area_id} "
        f"OR u.parent_id = {area_id} OR u.parent_id IN "
        f"(SELECT c.id FROM areas c WHERE c.parent_id = {area_id})))"
    )


def streets_of_area_sql(columns: str = "st.id") -> str:
    """``columns`` of the streets of kind ``:k``, not retired, that belong to area ``:a``
    (an area id) by the rule above, ordered by id."""
    inner = street_areas_sql(
        f"WHERE st.kind = :k AND st.retired_at IS NULL AND {near_area_sql(':a')}"
    )
    return (
        f"SELECT {columns} FROM ({inner}) h JOIN streets st ON st.id = h.alley_id "
        f"JOIN areas a ON a.id = :a WHERE a.code IN ({', '.join('h.' + c for c in AREA_CODES)}) "
        "ORDER BY st.id"
    )


def street_area_path(conn: Connection, street_id: int) -> tuple[str, ...]:
    """The codes of the areas the street belongs to (community, subdistrict, district; a
    level it lies outside of is skipped), deepest first: what a planner's scope is checked
    against before editing its duties (:mod:`geo.area_paths`). Empty when it lies in no area
    or does not exist."""
    row = conn.execute(
        text(f"SELECT {', '.join(AREA_CODES)} FROM ({street_areas_sql('WHERE st.id = :i')}) x"),
        {"i": street_id},
    ).first()
    return tuple(c for c in (row or ()) if c)
