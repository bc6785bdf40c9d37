"""Read stored layers as RFC 7946 GeoJSON FeatureCollections, filtered by bbox, paged.

The JSON is built inside PostGIS (ST_AsGeoJSON, jsonb) so large layers never round-trip
through Python geometry objects. Phone numbers and raw track bytes are never selected here.
Polygons are written as RFC 7946 §3.1.6 orders rings: exteriors counter-clockwise, holes
clockwise (ST_ForcePolygonCCW), whatever order they were stored in.

A grid's fields and today's staff, and a building's grid, are SQL shared with the file
exports (:mod:`geo.export`), so a layer read through the API and exported agree field by
field (T67 #2, #16).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from geo.errors import InputError

MAX_LIMIT = 10_000


def grid_label_sql(area: str = "a") -> str:
    """The SQL of a grid's label for maps and 公示 boards (grids ``g``, its community
    ``area``): its name, else "<社区> 第N网格" from the ordinal its code ends with (T49 #12:
    level-1 grids have no name); the stored name is left as it is. The grids export's and
    GET /grids' ``label`` and the roster's 名称 (T51 #11)."""
    return (
        f"COALESCE(g.name, {area}.name || ' 第' || CAST(substr(g.code, 13, 3) AS int) || '网格' "
        "|| CASE WHEN g.level >= 2 THEN ' 二级网格' || CAST(substr(g.code, 16, 3) AS int) "
        "ELSE '' END "
        "|| CASE WHEN g.level = 3 THEN ' 三级网格' || CAST(substr(g.code, 19, 2) AS int) "
        "ELSE '' END)"
    )


def _plan_figure(key: str) -> str:
    """A number the grid's plan stored (``g.properties``) as a column, null when absent or
    not a number (level-2/3 grids have none)."""
    return (
        f"CASE WHEN jsonb_typeof(g.properties -> '{key}') = 'number' "
        f"THEN CAST(g.properties ->> '{key}' AS float8) END AS {key}"
    )


# A current grid's own fields beside its code, level, name, counts and version (grids ``g``,
# its community ``a``, its parent grid ``p``). WHY (T67 #16): README promised
# ``code_path`` (110108015002001-003-02, dashes between the levels' digits, as the commit
# stores it) and level-2/3 grids named no parent. The plan's figures stay (area, street
# share, compactness); its staff figures do not (see GRID_STAFF).
GRID_FIELDS = (
    grid_label_sql() + " AS label, a.code AS community_code, p.code AS parent_code, "
    "concat_ws('-', substr(g.code, 1, 15), NULLIF(substr(g.code, 16, 3), ''), "
    "NULLIF(substr(g.code, 19, 2), '')) AS code_path, "
    + ", ".join(_plan_figure(k) for k in ("area_m2", "street_share", "polsby_popper"))
)
GRID_JOINS = (
    "FROM grids g JOIN areas a ON a.id = g.community_id LEFT JOIN grids p ON p.id = g.parent_id"
)

# today's staff columns of a grid; null on level-2/3 grids (duties are held on level 1)
GRID_STAFF = ("leaders", "workers", "part_time_workers")


def grid_staff_sql(grids: str, alias: str) -> str:
    """``LEFT JOIN`` of today's staff onto the level-1 grids (rows ``alias`` with ``id`` and
    ``level``) whose ids ``grids`` selects, as columns :data:`GRID_STAFF`; binds ``:today``.

    WHY (T67 #2): /grids gave the plan's ``worker_count`` (the workers its households needed
    when it was made), which readers took for today's staff. These are the duties in force on
    the city's day, counted per role as GET /coverage counts them: one aggregate for the
    whole page, not a query per grid."""
    staff = (
        "SELECT s.grid_id, count(*) FILTER (WHERE s.role = 'grid_leader') AS leaders, "
        "count(*) FILTER (WHERE s.role = 'grid_worker') AS workers, "
        "count(*) FILTER (WHERE s.role = 'part_time_worker') AS part_time_workers "
        f"FROM assignments s WHERE s.grid_id IN ({grids}) "
        "AND s.valid_from <= CAST(:today AS date) "
        "AND (s.valid_to IS NULL OR s.valid_to >= CAST(:today AS date)) GROUP BY s.grid_id"
    )
    return f"LEFT JOIN ({staff}) st ON st.grid_id = {alias}.id"


def grid_staff_columns(alias: str) -> str:
    """The :data:`GRID_STAFF` columns of :func:`grid_staff_sql`: 0 on a level-1 grid nobody
    staffs, null on a level-2/3 grid."""
    return ", ".join(
        f"CASE WHEN {alias}.level = 1 THEN COALESCE(st.{c}, 0) END AS {c}" for c in GRID_STAFF
    )


def judge_staff(
    households: int | None, leaders: int | None, workers: int | None, ratio: int
) -> tuple[int | None, bool | None]:
    """(``workers_needed``, ``short_staffed``) of a grid: full-time workers its households
    need by ``ratio`` (GRIDWARD_HOUSEHOLDS_PER_WORKER) and whether it lacks a leader or
    workers, by the one rule of GET /coverage and the grid map
    (:func:`geo.assign.grids.staff_shortfall`); (None, None) for a grid without staff
    (level 2/3)."""
    from geo.assign.grids import staff_shortfall, workers_needed

    if leaders is None or workers is None:
        return None, None
    need = int(workers_needed([households or 0], ratio)[0])
    return need, staff_shortfall(int(leaders), int(workers), need) is not None


def building_grid_sql(only: str | None = None) -> str:
    """SQL of (``bid``, ``code``): each building's current level-1 grid, by the one rule of a
    grid's buildings (:func:`geo.plan_history.grid_members_sql`: its stored building_ids,
    else the grid covering the building's inner point), the first code when two claim it;
    ``only``: a subquery of the building ids wanted (a page), else every building. The
    buildings export's and GET /buildings' ``grid_code`` (T49 #7, T67 #16)."""
    from geo.plan_history import grid_members_sql

    wanted = f" AND m.bid IN ({only})" if only else ""
    return (
        "SELECT DISTINCT ON (m.bid) m.bid, g.code FROM grids g "
        f"CROSS JOIN LATERAL ({grid_members_sql('g')}) m "
        f"WHERE g.level = 1 AND g.retired_at IS NULL{wanted} ORDER BY m.bid, g.code"
    )


def _grid_page() -> str:
    return f"SELECT sel.*, {grid_staff_columns('sel')} FROM sel " + grid_staff_sql(
        "SELECT id FROM sel WHERE level = 1", "sel"
    )


def _building_page() -> str:
    return (
        "SELECT sel.*, bg.code AS grid_code FROM sel "
        f"LEFT JOIN ({building_grid_sql('SELECT id FROM sel')}) bg ON bg.bid = sel.id"
    )


def _judge_grid(props: dict[str, Any]) -> None:
    from geo.settings import get_settings

    need, short = judge_staff(
        props.get("households"),
        props.get("leaders"),
        props.get("workers"),
        get_settings().households_per_worker,
    )
    props["workers_needed"] = need
    props["short_staffed"] = short


@dataclass(frozen=True)
class LayerSpec:
    """How to read one layer: the row source (with ``geom``) and the allowed filters;
    ``page``: SQL of the returned rows from ``sel`` (the page) with what only they need (a
    grid's staff, a building's grid), so it is computed for a page and not for every match;
    ``finish``: what Python adds to each feature's properties; ``today``: whether the SQL
    reads ``:today`` (the city's day)."""

    source: str
    filters: dict[str, str]
    order: str = "id"
    page: Callable[[], str] | None = None
    finish: Callable[[dict[str, Any]], None] | None = None
    today: bool = False


LAYERS: dict[str, LayerSpec] = {
    "areas": LayerSpec(
        source=(
            "SELECT a.id, a.code, a.level, a.name, a.name_en, p.code AS parent_code, "
            "round(a.area_m2::numeric, 1) AS area_m2, a.geom FROM areas a "
            "LEFT JOIN areas p ON p.id = a.parent_id"
        ),
        filters={
            "level": "level = :level",
            "code": "code = :code",
            "parent": "parent_code = :parent",
        },
        order="code",
    ),
    "buildings": LayerSpec(
        source=(
            "SELECT b.id, b.source_key, b.name, b.building_type, b.levels, b.households, "
            "b.household_source, b.units, round(b.area_m2::numeric, 1) AS area_m2, "
            "a.code AS community_code, b.geom FROM buildings b "
            "LEFT JOIN areas a ON a.id = b.community_id"
        ),
        filters={"community": "community_code = :community"},
        page=_building_page,
    ),
    "streets": LayerSpec(
        source=(
            "SELECT s.id, s.uid, s.name, s.highway, s.kind, round(s.length_m::numeric, 2) "
            "AS length_m, s.street_id, st.key AS street_key, s.geom FROM street_segments s "
            "JOIN streets st ON st.id = s.street_id WHERE s.retired_at IS NULL"
        ),
        filters={
            "kind": "kind = :kind",
            "name": "name = :name",
            "street_id": "street_id = :street_id",
        },
    ),
    "grids": LayerSpec(
        source=(
            "SELECT g.id, g.code, g.level, g.name, g.households, g.building_count, g.version, "
            f"g.flags, {GRID_FIELDS}, g.geom {GRID_JOINS} WHERE g.retired_at IS NULL"
        ),
        filters={"level": "level = :level", "community": "community_code = :community"},
        order="code",
        page=_grid_page,
        finish=_judge_grid,
        today=True,
    ),
}


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` in WGS 84 → a tuple; InputError naming what is wrong."""
    if bbox is None or bbox.strip() == "":
        return None
    parts = bbox.split(",")
    if len(parts) != 4:
        raise InputError(
            "范围 bbox 须为四个数（minlon,minlat,maxlon,maxlat） "
            "bbox must be four numbers: minlon,minlat,maxlon,maxlat"
        )
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise InputError(
            "范围 bbox 须为四个数（minlon,minlat,maxlon,maxlat） "
            "bbox must be four numbers: minlon,minlat,maxlon,maxlat"
        ) from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InputError("范围 bbox 的值须为有限的数字 bbox values must be finite numbers")
    if not (
        -180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90
    ):
        raise InputError(
            "范围 bbox 超出经纬度取值（经度 [-180, 180]，纬度 [-90, 90]） "
            "bbox is outside longitude [-180, 180] / latitude [-90, 90]"
        )
    if minx > maxx or miny > maxy:
        raise InputError(
            "范围 bbox 的最小值大于最大值（顺序：minlon,minlat,maxlon,maxlat） "
            "bbox minimum is greater than its maximum (order: minlon,minlat,maxlon,maxlat)"
        )
    return minx, miny, maxx, maxy


def feature_collection(
    engine: Engine,
    layer: str,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 1000,
    offset: int = 0,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``layer`` with ``bbox``, ``numberMatched/Returned``."""
    spec = LAYERS.get(layer)
    if spec is None:
        raise InputError(f"图层 {layer} 不存在 unknown layer '{layer}'")
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(
            f"每页条数 limit 须在 1–{MAX_LIMIT} 之间 limit must be between 1 and {MAX_LIMIT}"
        )
    if offset < 0:
        raise InputError("偏移量 offset 不能为负 offset must be ≥ 0")
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for key, value in (filters or {}).items():
        if value is None:
            continue
        if key not in spec.filters:
            raise InputError(
                f"图层 {layer} 没有名为 '{key}' 的筛选条件 unknown filter '{key}' for {layer}"
            )
        where.append(spec.filters[key])
        params[key] = value
    if bbox is not None:
        where.append("geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)")
        where.append("ST_Intersects(geom, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))")
        params.update(minx=bbox[0], miny=bbox[1], maxx=bbox[2], maxy=bbox[3])
    if spec.today:
        from geo.settings import city_today

        params["today"] = city_today()
    cond = ("WHERE " + " AND ".join(where)) if where else ""
    page = spec.page() if spec.page else "SELECT * FROM sel"
    # ST_ForcePolygonCCW (T67 #17): RFC 7946 §3.1.6 rings whatever order they were stored
    # in (the areas came clockwise, a third of the level-2 grids and buildings too); in
    # PostGIS, as the JSON is built, it costs ~10 ms per 10,000 features, where doing it in
    # Python (parse, shapely.orient_polygons, write) cost ~200-450 ms
    sql = text(
        f"WITH src AS ({spec.source}), sel AS (SELECT * FROM src {cond} "
        f"ORDER BY {spec.order} LIMIT :limit OFFSET :offset), page AS ({page}) "
        "SELECT json_build_object("
        " 'type', 'FeatureCollection',"
        " 'features', COALESCE(json_agg(json_build_object("
        "   'type', 'Feature', 'id', page.id,"
        "   'geometry', ST_AsGeoJSON(ST_ForcePolygonCCW(page.geom), 7)::json,"
        "   'properties', to_jsonb(page) - 'geom') ORDER BY page." + spec.order + "), '[]'::json),"
        " 'bbox', (SELECT CASE WHEN e IS NULL THEN NULL ELSE json_build_array("
        "   round(ST_XMin(e)::numeric, 7), round(ST_YMin(e)::numeric, 7),"
        "   round(ST_XMax(e)::numeric, 7), round(ST_YMax(e)::numeric, 7)) END"
        "   FROM (SELECT ST_Extent(geom)::geometry AS e FROM sel) x),"
        " 'numberReturned', count(page.id),"
        f" 'numberMatched', (SELECT count(*) FROM src {cond})"
        ")::text FROM page"
    )
    with engine.connect() as conn:
        raw = conn.execute(sql, params).scalar_one()
    fc = json.loads(raw)
    if fc.get("bbox") is None:
        fc.pop("bbox", None)
    if spec.finish is not None:
        for feature in fc["features"]:
            spec.finish(feature["properties"])
    return fc
