"""Read stored layers as RFC 7946 GeoJSON FeatureCollections, filtered by bbox, paged.

The JSON is built inside PostGIS (ST_AsGeoJSON, jsonb) so large layers never round-trip
through Python geometry objects. Phone numbers and raw track bytes are never selected here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from geo.errors import InputError

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class LayerSpec:
    """How to read one layer: the row source (with ``geom``) and the allowed filters."""

    source: str
    filters: dict[str, str]
    order: str = "id"


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
            "g.flags, g.properties, a.code AS community_code, g.geom FROM grids g "
            "JOIN areas a ON a.id = g.community_id WHERE g.retired_at IS NULL"
        ),
        filters={"level": "level = :level", "community": "community_code = :community"},
        order="code",
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
    cond = ("WHERE " + " AND ".join(where)) if where else ""
    sql = text(
        f"WITH src AS ({spec.source}), sel AS (SELECT * FROM src {cond} "
        f"ORDER BY {spec.order} LIMIT :limit OFFSET :offset) "
        "SELECT json_build_object("
        " 'type', 'FeatureCollection',"
        " 'features', COALESCE(json_agg(json_build_object("
        "   'type', 'Feature', 'id', sel.id,"
        "   'geometry', ST_AsGeoJSON(sel.geom, 7)::json,"
        "   'properties', to_jsonb(sel) - 'geom') ORDER BY sel." + spec.order + "), '[]'::json),"
        " 'bbox', (SELECT CASE WHEN e IS NULL THEN NULL ELSE json_build_array("
        "   round(ST_XMin(e)::numeric, 7), round(ST_YMin(e)::numeric, 7),"
        "   round(ST_XMax(e)::numeric, 7), round(ST_YMax(e)::numeric, 7)) END"
        "   FROM (SELECT ST_Extent(geom)::geometry AS e FROM sel) x),"
        " 'numberReturned', count(sel.id),"
        f" 'numberMatched', (SELECT count(*) FROM src {cond})"
        ")::text FROM sel"
    )
    with engine.connect() as conn:
        raw = conn.execute(sql, params).scalar_one()
    fc = json.loads(raw)
    if fc.get("bbox") is None:
        fc.pop("bbox", None)
    return fc
