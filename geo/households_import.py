"""Given household counts (户数) for buildings already stored: a census table or file whose
rows name a building by id or by a point inside it. Every row must match exactly one
building, else nothing is changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import Engine, text

from geo.errors import InputError
from geo.importer import (
    _ID_COLUMNS,
    Progress,
    _copy,
    _ewkb_hex,
    _households_column,
    _noop,
    _record,
    file_sha256,
)
from geo.plans import refresh_grid_households
from geo.vector_io import HOUSEHOLD_NAMES, fields_found, pick_column


def import_households(
    engine: Engine,
    path: str | Path,
    crs: str | None = None,
    progress: Progress = _noop,
) -> dict[str, int]:
    """Set given household counts on existing buildings.

    Rows name their building by id (``building_id``: a gridward id, a source key such as
    ``osm:w123``, or an OSM way id), or by a point (lon/lat columns or point geometry) inside the
    footprint. Every row must match exactly one building, else nothing is changed.
    """
    from geo.vector_io import read_csv_points, read_vector

    path = Path(path)
    progress(0.0, "读取户数 reading households")
    is_csv = path.suffix.lower() in (".csv", ".txt")
    table = read_csv_points(path) if is_csv else read_vector(path, crs)
    hh_col = pick_column(table.columns, HOUSEHOLD_NAMES)
    if hh_col is None:
        field_zh, field, found = fields_found(path, table)  # properties, not columns (T41 #6)
        found_zh, found = found or "无", found or "none"
        raise InputError(
            f"文件 {path.name} 没有户数{field_zh}（households 或 户数；"
            f"现有的{field_zh}：{found_zh}） "
            f"{path.name}: no households {field} (households or 户数); found {found}"
        )
    households = _households_column(table[hh_col], path.name)
    if households.isna().any():
        i = int(np.flatnonzero(households.isna().to_numpy())[0])
        raise InputError(
            f"文件 {path.name} 第 {i + 1} 行没有户数 "
            f"{path.name}: row {i + 1} has no households value"
        )
    id_col = pick_column(table.columns, _ID_COLUMNS)
    sha = file_sha256(path)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TEMP TABLE stage_hh (rownum int, key text, households int, geom geometry) "
                "ON COMMIT DROP"
            )
        )
        if id_col is not None:
            keys = table[id_col].astype(str).str.strip()
            rows = [
                (i, k, int(h), None) for i, (k, h) in enumerate(zip(keys, households, strict=True))
            ]
        else:
            pts = table if not is_csv else read_vector(path, crs)
            geoms = np.asarray(pts.geometry.to_numpy(), dtype=object)
            wkb = _ewkb_hex(shapely.point_on_surface(geoms))
            rows = [
                (i, None, int(h), g) for i, (h, g) in enumerate(zip(households, wkb, strict=True))
            ]
        _copy(conn, "stage_hh", ["rownum", "key", "households", "geom"], rows)
        matches = conn.execute(
            text(
                "SELECT s.rownum, s.key, count(b.id) AS n, min(b.id) AS building_id "
                "FROM stage_hh s LEFT JOIN buildings b ON ("
                "  (s.key IS NOT NULL AND (b.source_key = s.key OR b.id::text = s.key "
                "   OR b.source_key = 'osm:w' || s.key OR b.source_key = 'file:' || s.key)) OR "
                "  (s.key IS NULL AND ST_Intersects(b.geom, s.geom))) "
                "GROUP BY s.rownum, s.key ORDER BY s.rownum"
            )
        ).all()
        unmatched = [m for m in matches if m.n == 0]
        if unmatched:
            first = unmatched[0]
            what = f"building '{first.key}'" if first.key else "a building at its location"
            what_zh = f"楼栋 '{first.key}'" if first.key else "其位置上的楼栋"
            raise InputError(
                f"文件 {path.name} 第 {first.rownum + 1} 行所指的{what_zh}不存在"
                f"（共 {len(unmatched)} 行对不上；未作任何改动） "
                f"{path.name}: row {first.rownum + 1} names {what}, which does not exist "
                f"({len(unmatched)} row(s) unmatched; nothing changed)"
            )
        ambiguous = [m for m in matches if m.n > 1]
        if ambiguous:
            raise InputError(
                f"文件 {path.name} 第 {ambiguous[0].rownum + 1} 行对应 {ambiguous[0].n} 栋楼，"
                "请改用楼栋编号（未作任何改动） "
                f"{path.name}: row {ambiguous[0].rownum + 1} matches {ambiguous[0].n} buildings; "
                "give building ids instead (nothing changed)"
            )
        conn.execute(
            text(
                "UPDATE buildings b SET households = s.households, household_source = 'given', "
                "updated_at = now() FROM (SELECT unnest(CAST(:ids AS int[])) AS id, "
                "unnest(CAST(:hh AS int[])) AS households) s WHERE b.id = s.id"
            ),
            {
                "ids": [m.building_id for m in matches],
                "hh": [r[2] for r in rows],
            },
        )
        counts = {"rows": len(rows), "buildings_updated": len(matches)}
        counts["grids_updated"] = refresh_grid_households(conn)  # counts follow buildings
        _record(conn, "households", path, sha, counts)
    progress(1.0, "完成 done")
    return counts
