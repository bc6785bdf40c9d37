"""Import administrative areas (district, subdistrict, community …) from a vector file.

WHY a module of its own: :mod:`geo.importer` had grown to 1,466 lines holding three imports;
the areas import is the one with its own reading rules (Chinese column names and levels, codes
as a DBF writes them, parents by code prefix) and its own checks against what is stored (a
wrong ``--crs`` puts a file's areas hundreds of kilometres from the streets, buildings or
parents stored, T46 #4, T48 #2; overlapping communities). It shares the staging helpers
(COPY, EWKB, the import record) with the other imports in :mod:`geo.importer`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text

from geo.building_links import link_buildings_to_communities
from geo.errors import InputError
from geo.importer import (
    Progress,
    buildings_in_no_community,
    copy_rows,
    ewkb_hex,
    file_sha256,
    is_na,
    no_progress,
    polygonal,
    record_import,
)
from geo.models import AREA_CODE_LENGTH, AREA_LEVELS, LEVEL_ZH
from geo.vector_io import fields_found

_PARENT_FIELDS = {
    # level of the parent → (code column, name column) in the file, as fixtures write them
    "subdistrict": ("subdistrict_code", "subdistrict_name"),
    "district": ("district_code", "district_name"),
}


# level → the level of its parent and the digits of its code that name it (GB/T 2260)
_PARENT_OF = {
    "community": ("subdistrict", 9),
    "village": ("subdistrict", 9),
    "subdistrict": ("district", 6),
    "township": ("district", 6),
}


# the columns an areas file may name, each with the spellings read (case ignored), first match
# wins. WHY the Chinese ones: a district's own files say 代码/名称/级别 (T46 #10)
_AREA_COLUMNS = {
    "code": ("code", "编码", "代码", "区划代码", "行政区划代码"),
    "name": ("name", "名称", "区划名称"),
    "level": ("level", "级别", "层级", "区划级别"),
    "parent_code": ("parent_code", "上级代码", "上级区划代码"),
}

# a level as a district's files and clerks write it, in Chinese (T46 #10), → AREA_LEVELS
_LEVEL_WORDS = {
    **{lvl: lvl for lvl in AREA_LEVELS},
    **{zh: lvl for lvl, zh in LEVEL_ZH.items()},  # 区, 街道, 乡镇, 社区, 村
    "县": "district",
    "区县": "district",
    "市辖区": "district",
    "街道办事处": "subdistrict",
    "乡": "township",
    "镇": "township",
    "社区居委会": "community",
    "居委会": "community",
    "行政村": "village",
    "村委会": "village",
}
_LEVEL_WORDS_ZH = "区/县、街道、乡/镇、社区、村"

#: an area further than this from every stored building and street segment is told; a file
#: none of whose areas is nearer is refused (a wrong --crs, T46 #4)
AREA_FAR_M = 5000.0
#: communities (villages) overlapping each other by more than this are named (T46 overlaps)
AREA_OVERLAP_M2 = 5.0


def _area_level(value: Any) -> str:
    """``value`` (a level column's cell, or --level) as one of AREA_LEVELS when it names one
    (English any case, or Chinese); else the value as given, stripped, for the refusal."""
    word = "" if is_na(value) else str(value).strip()
    return _LEVEL_WORDS.get(word.lower(), _LEVEL_WORDS.get(word, word))


def _area_code(value: Any) -> str:
    """An area code cell as text. WHY (T46 #16): ArcGIS writes a DBF numeric code field as a
    Double, read back as 110108017001.0; a whole number below 2**53 (every 12-digit code) is
    exact in a double, so it is the code; a fraction is left as written, and refused."""
    exact = isinstance(value, float | np.floating) and np.isfinite(value)
    if exact and float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return "" if is_na(value) else str(value).strip()


def _mojibake(names: Iterable[str]) -> bool:
    """Whether field names look like GBK or UTF-8 read as Latin-1 (´úÂë for 代码)."""
    return any(any("\u0080" <= ch <= "\u00ff" for ch in n) for n in names)


def import_areas(
    engine: Engine,
    path: str | Path,
    crs: str | None = None,
    level: str | None = None,
    progress: Progress = no_progress,
    replace_codes: Iterable[str] = (),
) -> dict[str, int]:
    """Import administrative areas (code, name, level); missing parents are made from children.

    Required columns: ``code`` and ``name`` (or 编码/代码/区划代码, 名称/区划名称; a numeric code
    that is a whole number is read as its digits); ``level`` (级别/层级) per feature or
    ``--level``, in English or Chinese (区, 街道, 乡镇, 社区, 村 …, :data:`_LEVEL_WORDS`).
    Parent codes come from ``parent_code`` (上级代码) or from the code's prefix (GB/T 2260 nesting:
    community 12 digits → subdistrict 9 → district 6). A parent that does not exist yet is
    created when the file names it (``subdistrict_name``, ``district_name``), its outline the
    union of its children; every later area import redraws such an outline from the children
    linked then, so a community linked to it later lies inside it.

    Refused, nothing stored, when buildings or streets are stored and none of the file's
    areas lies within AREA_FAR_M of them, or when every area of the file that has a stored
    parent or child lies further than that from them (a wrong CRS); when, no ``crs`` given,
    the file read from another phone datum (GCJ-02, BD-09) fits the stored buildings clearly
    better (:func:`_datum_check`); also when an area of a stored code would take that area
    over (another name far from it, another parent, stored children left outside, or
    buildings of its current grids left outside when it is no datum correction,
    :func:`_takeovers`) unless ``replace_codes`` names it. The result's ``warnings``
    (present only when there are any; not counts): a .dbf read as GBK, areas far from the
    others or from their stored parents or children, a ``crs`` given that another datum
    fits clearly better, an area of a stored code moved off its buildings (no grids),
    communities overlapping each other, buildings in no community
    (:func:`geo.importer.buildings_in_no_community`). A parent made from its children is one
    polygon where they meet (:func:`_dissolved`).
    """
    from geo.vector_io import read_vector

    path = Path(path)
    progress(0.0, "读取区划 reading areas")
    gdf = read_vector(path, crs)
    warnings: list[str] = list(gdf.attrs.get("warnings", []))  # e.g. a .dbf read as GBK
    source_crs, crs_given = gdf.attrs.get("source_crs"), gdf.attrs.get("crs_given", False)
    geometry = gdf.geometry.name
    lowered = {str(c).strip().lower(): c for c in gdf.columns if c != geometry}
    for en, names in _AREA_COLUMNS.items():
        col = next((lowered[n] for n in names if n in lowered), None)
        if col is not None and col != en:
            if en in gdf.columns:  # a column already named so that is not the one read
                gdf = gdf.drop(columns=en)
            gdf = gdf.rename(columns={col: en})
    cols = {c: c for c in gdf.columns if c in _AREA_COLUMNS}
    # a GeoJSON's (GeoPackage's, Shapefile's) are properties, the geometry none (T41 #6)
    field_zh, field, found = fields_found(path, gdf)
    found_zh, found = found or "无", found or "none"
    for required in ("code", "name"):
        if required not in cols:
            why_zh, why = "", ""
            if _mojibake(str(c) for c in gdf.columns):
                # WHY (T46 #11): "现有的属性：´úÂë, Ãû³Æ" named the garbled fields and
                # neither the cause (GBK read as Latin-1) nor the remedy
                cpg = f"{path.stem}.cpg"
                why_zh = (
                    f"。{field_zh}名是乱码，多半是 GBK 编码的 .dbf 缺少 .cpg：请在 .shp 旁放一个"
                    f"内容为 GBK 的 {cpg} 文件后重新导入"
                )
                why = (
                    f"; the {field} names are garbled: most likely a GBK .dbf without its .cpg: "
                    f"put a {cpg} file containing GBK beside the .shp and import again"
                )
            elif path.suffix.lower() in {".kml", ".kmz"}:
                # a placemark's own fields come from its ExtendedData (T46 #17)
                why_zh = (
                    "。KML 中每个地标的区划代码须写在其 ExtendedData 里"
                    '（<SimpleData name="代码"> 或 <Data name="code">），名称写在 <name> 里'
                )
                why = (
                    "; a KML placemark's area code goes in its ExtendedData "
                    '(<SimpleData name="代码"> or <Data name="code">), its name in <name>'
                )
            raise InputError(
                f"文件 {path.name} 缺少 {required} {field_zh}（现有的{field_zh}：{found_zh}）"
                f"{why_zh} "
                f"{path.name}: missing {field} '{required}'; found {found}{why}"
            )
    if "level" not in cols:
        if not level:
            raise InputError(
                f"文件 {path.name} 没有 level 列，请给 --level（如 community 或 社区） "
                f"{path.name}: no 'level' column: give --level (e.g. community)"
            )
        gdf["level"] = level
    elif level:
        gdf["level"] = gdf["level"].where(~gdf["level"].map(is_na), level)
    gdf["code"] = [_area_code(v) for v in gdf["code"]]
    given_levels = [str(v).strip() if not is_na(v) else "" for v in gdf["level"]]
    gdf["level"] = [_area_level(v) for v in gdf["level"]]
    bad_level = ~gdf["level"].isin(AREA_LEVELS)
    if bad_level.any():
        wrong = given_levels[int(np.flatnonzero(bad_level.to_numpy())[0])]
        levels = ", ".join(AREA_LEVELS)
        raise InputError(
            f"文件 {path.name} 的区划级别 '{wrong}' 有误，请用 {levels} 之一"
            f"（或 {_LEVEL_WORDS_ZH}） "
            f"{path.name}: unknown level '{wrong}': use one of {levels}"
        )
    for code, lvl in zip(gdf["code"], gdf["level"], strict=True):
        if not code.isdigit() or len(code) != AREA_CODE_LENGTH[lvl]:
            raise InputError(
                f"文件 {path.name} 中{LEVEL_ZH.get(lvl, lvl)}的区划代码 '{code}' "
                f"应为 {AREA_CODE_LENGTH[lvl]} 位数字 "
                f"{path.name}: code '{code}' of a {lvl} must be {AREA_CODE_LENGTH[lvl]} digits"
            )
    dup = gdf["code"].duplicated()
    if dup.any():
        raise InputError(
            f"文件 {path.name} 中区划代码 '{gdf['code'][dup].iloc[0]}' 出现了两次 "
            f"{path.name}: code '{gdf['code'][dup].iloc[0]}' appears twice"
        )
    # flat outlines: a KML's or a PolygonZ shapefile's altitudes mean nothing here
    flat = shapely.force_2d(np.asarray(gdf.geometry.to_numpy(), dtype=object))
    geoms = polygonal(flat, path.name)
    gdf = gdf.set_geometry(geoms, crs="EPSG:4326")

    # codes the file gives for parents, as text (a DBF numeric field, T46 #16); none: ""
    for col in ("parent_code", *(c for c, _ in _PARENT_FIELDS.values())):
        if col in gdf.columns:
            gdf[col] = [_area_code(v) for v in gdf[col]]

    # Parent rows named by the file (created when missing).
    parents: dict[str, tuple[str, str]] = {}
    for plevel, (ccol, ncol) in _PARENT_FIELDS.items():
        if ccol in gdf.columns:
            for code, name in zip(gdf[ccol], gdf.get(ncol, gdf[ccol]), strict=True):
                if isinstance(code, str) and code.strip():
                    parents.setdefault(code.strip(), (plevel, str(name)))

    name_en = gdf["name_en"] if "name_en" in gdf.columns else pd.Series([None] * len(gdf))
    parent_code = gdf["parent_code"] if "parent_code" in gdf.columns else None
    rows = []
    named_parents: dict[str, str] = {}  # area → the parent_code the file gives it
    for i, (code, name, lvl, g) in enumerate(
        zip(gdf["code"], gdf["name"], gdf["level"], ewkb_hex(geoms), strict=True)
    ):
        # the parent: parent_code, else the file's subdistrict_code / district_code column
        # for the level above, else the code's prefix (GB/T 2260 nesting)
        plevel, digits = _PARENT_OF.get(lvl, (None, 0))
        given = [parent_code] if parent_code is not None else []
        if plevel is not None and _PARENT_FIELDS[plevel][0] in gdf.columns:
            given.append(gdf[_PARENT_FIELDS[plevel][0]])
        named = [c.iloc[i].strip() for c in given if isinstance(c.iloc[i], str)]
        pc = next((c for c in named if c), None)
        if pc is not None:
            named_parents[code] = pc
        elif digits:
            pc = code[:digits]
        rows.append((code, lvl, str(name), _none_if_na(name_en.iloc[i]), pc, g))

    # how a message names each area's row: a CSV's by its line (the header is line 1), a
    # vector file's features by their number from 1
    csv = path.suffix.lower() == ".csv"
    numbers = {
        code: (f"第 {i + 2} 行", f"row {i + 2}")
        if csv
        else (f"第 {i + 1} 个要素", f"feature {i + 1}")
        for i, code in enumerate(gdf["code"])
    }
    sha = file_sha256(path)
    progress(0.5, "写入区划 writing areas")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TEMP TABLE stage_areas (code text, level text, name text, name_en text, "
                "parent_code text, geom geometry, same_outline boolean DEFAULT false) "
                "ON COMMIT DROP"
            )
        )
        copy_rows(
            conn, "stage_areas", ["code", "level", "name", "name_en", "parent_code", "geom"], rows
        )
        warnings += _far_areas(conn, path.name, source_crs, crs_given)
        warnings += _far_from_relatives(conn, path.name, source_crs, crs_given)
        finest = _finest(geoms, gdf["level"].to_numpy())
        warnings += _datum_check(conn, path.name, finest, source_crs, crs_given)
        _same_outlines(conn)
        warnings += _takeovers(conn, path.name, numbers, parents, set(replace_codes))
        # an outline the same as stored (or, for one made from its children, as their union)
        # is kept as stored, and so is how it is made; an area changed in nothing is not
        # written (T49 #9)
        written = (
            conn.execute(
                text(
                    "UPDATE areas a SET level = s.level, name = s.name, name_en = s.name_en, "
                    "geom = CASE WHEN s.same_outline THEN a.geom ELSE ST_Multi(s.geom) END, "
                    "area_m2 = CASE WHEN s.same_outline THEN a.area_m2 "
                    "  ELSE ST_Area(s.geom::geography) END, "
                    "outline_from_children = a.outline_from_children AND s.same_outline, "
                    "updated_at = now() FROM stage_areas s WHERE a.code = s.code "
                    "AND (NOT s.same_outline OR (a.level, a.name, a.name_en) IS DISTINCT FROM "
                    "(s.level, s.name, s.name_en))"
                )
            ).rowcount
            or 0
        )
        written += (
            conn.execute(
                text(
                    "INSERT INTO areas (code, level, name, name_en, geom, area_m2) "
                    "SELECT code, level, name, name_en, ST_Multi(geom), "
                    "ST_Area(geom::geography) FROM stage_areas s "
                    "WHERE NOT EXISTS (SELECT 1 FROM areas a WHERE a.code = s.code)"
                )
            ).rowcount
            or 0
        )
        # Missing parents, deepest first so a district is the union of its subdistricts.
        created = 0
        for plevel in ("subdistrict", "district"):
            for code, (lvl, name) in parents.items():
                if lvl != plevel:
                    continue
                # its children: the file's areas linked to it (parent_code, or the code's
                # prefix when none is given), and areas already stored under its prefix that
                # the file does not link elsewhere; none: not created (nothing to outline)
                created += (
                    conn.execute(
                        text(
                            "INSERT INTO areas (code, level, name, geom, area_m2, "
                            "outline_from_children) "
                            "SELECT CAST(:code AS text), :lvl, :name, ST_Multi(u), "
                            "ST_Area(u::geography), true FROM ("
                            f"SELECT {_dissolved('geom')} AS u, count(*) AS n FROM areas "
                            "WHERE code IN (SELECT code FROM stage_areas "
                            "  WHERE parent_code = CAST(:code AS text)) "
                            "OR (code LIKE :prefix AND length(code) > :n "
                            "AND length(code) = (SELECT min(length(code)) FROM areas "
                            "  WHERE code LIKE :prefix AND length(code) > :n) "
                            "AND code NOT IN (SELECT code FROM stage_areas "
                            "  WHERE parent_code IS DISTINCT FROM CAST(:code AS text)))) k "
                            "WHERE n > 0 ON CONFLICT (code) DO NOTHING"
                        ),
                        {
                            "code": code,
                            "lvl": lvl,
                            "name": name,
                            "prefix": code + "%",
                            "n": len(code),
                        },
                    ).rowcount
                    or 0
                )
        # A parent_code the file gives must name an area (stored, or created above from the
        # file's subdistrict_code / district_code and name): a mistyped one would leave the
        # area in no subdistrict, missing from that subdistrict's coverage and reports.
        if named_parents:
            known = set(
                conn.execute(
                    text("SELECT code FROM areas WHERE code = ANY(:c)"),
                    {"c": sorted(set(named_parents.values()))},
                ).scalars()
            )
            lost = {c: pc for c, pc in named_parents.items() if pc not in known}
            if lost:
                child, pc = next(iter(sorted(lost.items())))
                more = f"（另有 {len(lost) - 1} 个）" if len(lost) > 1 else ""
                raise InputError(
                    f"文件 {path.name} 中区划 {child} 的上级代码 parent_code '{pc}' 不对应任何区划"
                    f"{more}：请先导入那个区划，或给出 subdistrict_code/district_code 和 "
                    "subdistrict_name/district_name，由其下级区划生成它；未导入任何数据 "
                    f"{path.name}: parent_code '{pc}' of area {child} names no area"
                    + (f" (and {len(lost) - 1} more)" if len(lost) > 1 else "")
                    + ": import that area first, or give subdistrict_code/district_code and "
                    "subdistrict_name/district_name to create it from its children; nothing "
                    "was imported"
                )
        # Parent links for every area whose parent exists.
        conn.execute(
            text(
                "UPDATE areas c SET parent_id = p.id FROM stage_areas s, areas p "
                "WHERE c.code = s.code AND p.code = s.parent_code "
                "AND c.parent_id IS DISTINCT FROM p.id"
            )
        )
        # Areas in no parent yet nest by code (GB/T 2260) under a parent that exists now.
        for lvls, plvls, n in (
            (("subdistrict", "township"), ("district",), 6),
            (("community", "village"), ("subdistrict", "township"), 9),
        ):
            conn.execute(
                text(
                    "UPDATE areas c SET parent_id = p.id FROM areas p "
                    "WHERE c.parent_id IS NULL AND c.level = ANY(:lvls) "
                    "AND p.level = ANY(:plvls) AND p.code = left(c.code, :n)"
                ),
                {"lvls": list(lvls), "plvls": list(plvls), "n": n},
            )
        _follow_children(conn)
        link_buildings_to_communities(conn)
        warnings += _overlapping_communities(conn)
        warnings += buildings_in_no_community(conn)
        # parents: the parent areas made here from their children; parents_linked: the file's
        # areas under a parent now (made, stored, or found by code). WHY both: a file whose
        # parent was stored already said parents=0 only, read as "not linked" (T38 L12)
        linked = conn.execute(
            text(
                "SELECT count(*) FROM areas a JOIN stage_areas s ON s.code = a.code "
                "WHERE a.parent_id IS NOT NULL"
            )
        ).scalar_one()
        counts = {
            "areas_read": len(rows),
            "areas_written": int(written or 0),
            "parents": created,
            "parents_linked": int(linked),
        }
        record_import(conn, "areas", path, sha, counts)
    progress(1.0, "完成 done")
    if warnings:  # said after the counts (the CLI: on stderr, each "warning: …")
        counts["warnings"] = warnings  # type: ignore[assignment]
    return counts


def _crs_hint(source_crs: str | None, lon: float) -> tuple[str, str]:
    """The CRS an areas file in ``source_crs`` most likely is, by the longitude of the data
    stored already: a CGCS2000 3-degree Gauss-Kruger zone (EPSG:4534–4554 without the zone
    number, 4513–4533 with it) whose central meridian is nearest. ("", "") when the stored
    data lie outside those zones."""
    cm = int(round(lon / 3.0) * 3)
    if not 75 <= cm <= 135:
        return "", ""
    k = (cm - 75) // 3
    epsg = 4534 + k
    if source_crs and source_crs.upper().startswith("EPSG:"):
        code = source_crs.split(":", 1)[1]
        if code.isdigit() and 4513 <= int(code) <= 4533:
            epsg = 4513 + k  # the file's eastings carry the zone number
    return (
        f"已有数据在东经 {lon:.2f}° 附近，那里的 CGCS2000 3度带（中央经线 {cm}°E）是 EPSG:{epsg}",
        f"the stored data lie near {lon:.2f}E, where the CGCS2000 3-degree Gauss-Kruger zone "
        f"(CM {cm}E) is EPSG:{epsg}",
    )


def _crs_cause(
    conn: Connection,
    stored: str,
    params: dict[str, Any],
    source_crs: str | None,
    crs_given: bool,
) -> tuple[str, str]:
    """(Chinese, English) cause of a file's areas lying far from what is stored: the --crs
    given, else the CRS the file declares, with :func:`_crs_hint` for the stored data (the
    geometries ``stored`` selects) at the middle of their extent."""
    lon = conn.execute(
        text(
            "SELECT (ST_XMin(e) + ST_XMax(e)) / 2 FROM (SELECT ST_Extent(geom) e FROM "
            f"({stored}) g) x"
        ),
        params,
    ).scalar_one()
    hint_zh, hint = _crs_hint(source_crs, float(lon))
    if crs_given:
        cause_zh, cause = (
            f"多半是 --crs {source_crs} 不对",
            f"most likely --crs {source_crs} is wrong",
        )
    else:
        cause_zh = f"多半是文件声明的坐标系 {source_crs} 不对，请用 --crs 给出正确的"
        cause = f"most likely the CRS the file declares, {source_crs}, is wrong: give it with --crs"
    if hint_zh:
        cause_zh, cause = f"{cause_zh}；{hint_zh}", f"{cause}; {hint}"
    return cause_zh, cause


def _codes_listed(codes: list[str]) -> tuple[str, str]:
    """(Chinese, English) list of the first ten ``codes`` and how many there are in all."""
    more = len(codes) > 10
    return (
        "、".join(codes[:10]) + (f" 等 {len(codes)} 个" if more else ""),
        ", ".join(codes[:10]) + (f" and {len(codes) - 10} more" if more else ""),
    )


def _lie(n: int) -> str:
    """The words after a count of areas: "1 area lies", "2 areas lie"."""
    return "area lies" if n == 1 else "areas lie"


def _far_areas(conn: Connection, name: str, source_crs: str | None, crs_given: bool) -> list[str]:
    """Check the staged areas against the buildings and street segments stored already: a
    file none of whose areas lies within AREA_FAR_M of any of them is refused (nothing is
    stored); the areas of a file that are that far while others are not are named in a
    warning. Nothing stored: nothing to check.

    WHY (T46 #4): a shapefile in EPSG:4548 imported with --crs EPSG:4547 (3° too far west)
    was stored 255 km from every street and building, silently; every building lost its
    community, the grids and people's homes their area. A district whose network is not
    imported yet is told to import it first (its areas are then checked against it)."""
    anything = conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM buildings) OR EXISTS (SELECT 1 FROM street_segments)")
    ).scalar_one()
    if not anything:
        return []
    # the bounding box prefilter (0.1°, over 5 km at any latitude in China) uses the indexes
    rows = conn.execute(
        text(
            "SELECT s.code, s.level, s.name, ST_X(ST_PointOnSurface(s.geom)) AS lon, "
            "ST_Y(ST_PointOnSurface(s.geom)) AS lat FROM stage_areas s "
            "WHERE NOT EXISTS (SELECT 1 FROM buildings b WHERE b.geom && ST_Expand(s.geom, 0.1) "
            "  AND ST_DWithin(b.geom::geography, s.geom::geography, :m)) "
            "AND NOT EXISTS (SELECT 1 FROM street_segments g "
            "  WHERE g.geom && ST_Expand(s.geom, 0.1) "
            "  AND ST_DWithin(g.geom::geography, s.geom::geography, :m)) "
            "ORDER BY s.code"
        ),
        {"m": AREA_FAR_M},
    ).all()
    if not rows:
        return []
    total = conn.execute(text("SELECT count(*) FROM stage_areas")).scalar_one()
    km = f"{AREA_FAR_M / 1000:g}"
    first = rows[0]
    where_zh = (
        f"如{LEVEL_ZH.get(first.level, first.level)} {first.code} {first.name} "
        f"在东经 {first.lon:.4f}°、北纬 {first.lat:.4f}°"
    )
    where = f"e.g. {first.level} {first.code} {first.name} at {first.lon:.4f}E, {first.lat:.4f}N"
    if len(rows) < total:
        codes, codes_en = _codes_listed([r.code for r in rows])
        return [
            f"文件 {name} 中有 {len(rows)} 个区划离已有的楼栋和街巷都超过 {km} 公里（{codes}；"
            f"{where_zh}）：若其坐标无误，是路网还没导入到那里 "
            f"{name}: {len(rows)} {_lie(len(rows))} over {km} km from every stored building "
            f"and street ({codes_en}; {where}): if their coordinates are right, the network "
            "does not reach them yet"
        ]
    stored = "SELECT geom FROM buildings UNION ALL SELECT geom FROM street_segments"
    cause_zh, cause = _crs_cause(conn, stored, {}, source_crs, crs_given)
    raise InputError(
        f"文件 {name} 的 {total} 个区划离已有的楼栋和街巷都超过 {km} 公里（{where_zh}）："
        f"{cause_zh}。若坐标无误（那里的路网还没导入），请先用 gridward import osm 导入覆盖"
        "它们的 OSM 文件；未导入任何数据 "
        f"{name}: {'the one area lies' if total == 1 else f'all {total} areas lie'} over "
        f"{km} km from every stored building and street "
        f"({where}): {cause}. If their coordinates are right (the network there is not "
        "imported yet), import an OSM file covering them first (gridward import osm); "
        "nothing was imported"
    )


def _far_from_relatives(
    conn: Connection, name: str, source_crs: str | None, crs_given: bool
) -> list[str]:
    """Check the staged areas against the stored areas they nest in or contain: the parent
    each will be linked to (``parent_code``: given, or the code's prefix) and the stored areas
    linked, or to be linked by code, under it. A file every one of whose areas that has such
    a relative lies over AREA_FAR_M from all of them is refused (nothing stored); the areas
    of a file that are that far while others are not are named in a warning.

    WHY (T48 #2): with no building or street stored yet (areas imported before the OSM),
    :func:`_far_areas` has nothing to check against: communities imported with a wrong --crs
    were stored 255 km from their own subdistrict (linked by code), silently, and the OSM
    imported next linked none of its buildings to a community. An area whose stored version
    lies that far from the file's is being moved (a wrong import put right): its stored
    relatives may be the wrong ones, so it is not judged by them. A parent made from its
    children is no evidence either: its outline is redrawn around the area."""
    rows = conn.execute(
        text(
            "WITH s AS (SELECT s.* FROM stage_areas s WHERE NOT EXISTS ("
            "  SELECT 1 FROM areas o WHERE o.code = s.code "
            "  AND NOT ST_DWithin(o.geom::geography, s.geom::geography, :m))), "
            "rel AS (SELECT s.code, s.level, s.name, s.geom, a.code AS r_code, "
            "  a.level AS r_level, a.name AS r_name, a.geom AS r_geom, "
            "  a.code = s.parent_code AS up FROM s JOIN areas a ON a.code <> s.code "
            "  AND NOT EXISTS (SELECT 1 FROM stage_areas t WHERE t.code = a.code) "
            "  AND ((a.code = s.parent_code AND NOT a.outline_from_children) "
            "    OR a.parent_id = (SELECT id FROM areas x WHERE x.code = s.code) "
            "    OR (a.parent_id IS NULL AND length(a.code) > length(s.code) "
            "      AND left(a.code, length(s.code)) = s.code))) "
            "SELECT code, level, name, r_code, r_level, r_name, up, "
            "ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat, "
            "ST_X(ST_PointOnSurface(r_geom)) AS r_lon, ST_Y(ST_PointOnSurface(r_geom)) AS r_lat, "
            "ST_DWithin(geom::geography, r_geom::geography, :m) AS near "
            "FROM rel ORDER BY code, NOT up, r_code"
        ),
        {"m": AREA_FAR_M},
    ).all()
    judged = {r.code for r in rows}
    far_rows = [r for r in rows if not r.near]
    if not far_rows:
        return []
    far = sorted({r.code for r in far_rows})
    km = f"{AREA_FAR_M / 1000:g}"
    f = far_rows[0]
    rel_zh, rel_en = ("上级", "parent") if f.up else ("下级", "child area")
    where_zh = (
        f"如{LEVEL_ZH.get(f.level, f.level)} {f.code} {f.name} 在东经 {f.lon:.4f}°、北纬 "
        f"{f.lat:.4f}°，其{rel_zh}{LEVEL_ZH.get(f.r_level, f.r_level)} {f.r_code} {f.r_name} "
        f"在东经 {f.r_lon:.4f}°、北纬 {f.r_lat:.4f}°"
    )
    where = (
        f"e.g. {f.level} {f.code} {f.name} at {f.lon:.4f}E, {f.lat:.4f}N, its {rel_en} "
        f"{f.r_level} {f.r_code} {f.r_name} at {f.r_lon:.4f}E, {f.r_lat:.4f}N"
    )
    if len(far) < len(judged):
        codes, codes_en = _codes_listed(far)
        lie = _lie(len(far))
        return [
            f"文件 {name} 中有 {len(far)} 个区划离已存的上级或下级区划超过 {km} 公里（{codes}；"
            f"{where_zh}）：请核对它们的坐标和区划代码（上级按 parent_code 或代码的前几位确定） "
            f"{name}: {len(far)} {lie} over {km} km from a stored area it nests in or "
            f"contains ({codes_en}; {where}): check their coordinates and codes (the parent "
            "is named by parent_code or the code's first digits)"
        ]
    relatives = {"c": sorted({r.r_code for r in far_rows})}
    stored = "SELECT geom FROM areas WHERE code = ANY(:c)"
    cause_zh, cause = _crs_cause(conn, stored, relatives, source_crs, crs_given)
    raise InputError(
        f"文件 {name} 中有已存上级或下级的 {len(far)} 个区划离它们都超过 {km} 公里"
        f"（{where_zh}）：{cause_zh}。若坐标无误，请核对区划代码（上级按 parent_code 或代码的"
        "前几位确定）；未导入任何数据 "
        f"{name}: {'the one area' if len(far) == 1 else f'all {len(far)} areas'} with a "
        f"stored parent or child {'lies' if len(far) == 1 else 'lie'} over {km} km from them "
        f"({where}): {cause}. If their coordinates are right, check their codes "
        "(the parent is named by parent_code or the code's first digits); nothing was imported"
    )


#: the levels of an areas file from the finest: the datum is told by the finest it has
_FINE_FIRST = (("community", "village"), ("subdistrict", "township"), ("district",))
#: another phone datum's reading of an areas file is taken as the file's datum when it is no
#: worse by either measure of :func:`_fit` and clearly better by one: its outlines cut at most
#: half as many stored buildings, or hold half as many again, by at least this many (T70 #1)
DATUM_MIN_BUILDINGS = 5


def _finest(geoms: np.ndarray, levels: np.ndarray) -> tuple[str, np.ndarray]:
    """(level, outlines) of the file's finest level: communities and villages, else
    subdistricts and townships, else districts. WHY: a 540 m shift moves few buildings in or
    out of a district, and many out of a community."""
    for lvls in _FINE_FIRST:
        mask = np.isin(levels, lvls)
        if mask.any():
            return lvls[0], geoms[mask]
    return str(levels[0]), geoms


def _fit(conn: Connection, outlines: np.ndarray) -> tuple[int, int]:
    """(inside, cut): the stored buildings whose inner point lies in one of ``outlines``, and
    those an outline's boundary crosses. WHY both: outlines drawn on a base map follow
    streets and hold their buildings whole; shifted by a datum they cut buildings, and hold
    fewer of them where the data end (T70: 83 inside, 17 cut as given; 184 and 6 as gcj02)."""
    inside, cut = conn.execute(
        text(
            "WITH a AS (SELECT ST_GeomFromEWKB(decode(g, 'hex')) AS geom "
            "  FROM unnest(CAST(:g AS text[])) AS g) "
            "SELECT (SELECT count(DISTINCT b.id) FROM a JOIN buildings b ON b.geom && a.geom "
            "  AND ST_Intersects(a.geom, ST_PointOnSurface(b.geom))), "
            "(SELECT count(DISTINCT b.id) FROM a JOIN buildings b ON b.geom && a.geom "
            "  AND ST_Intersects(ST_Boundary(a.geom), b.geom))"
        ),
        {"g": ewkb_hex(outlines)},
    ).one()
    return int(inside), int(cut)


def _clearly_better(here: tuple[int, int], there: tuple[int, int]) -> bool:
    """Whether the fit ``there`` (inside, cut) is no worse than ``here`` by either measure and
    clearly better by one (:data:`DATUM_MIN_BUILDINGS`). WHY both: a right outline read in
    the wrong datum can hold more buildings (a dense campus next door: T70's right file read
    as gcj02 held 195, not 184), but then it cuts many more (35, not 6)."""
    (inside, cut), (inside2, cut2) = here, there
    no_worse = cut2 <= cut and 10 * inside2 >= 9 * inside
    fewer_cut = 2 * cut2 <= cut and cut - cut2 >= DATUM_MIN_BUILDINGS
    more_inside = 2 * inside2 >= 3 * inside and inside2 - inside >= DATUM_MIN_BUILDINGS
    return no_worse and (fewer_cut or more_inside)


def _datum_check(
    conn: Connection,
    name: str,
    finest: tuple[str, np.ndarray],
    source: str | None,
    given: bool,
) -> list[str]:
    """The file's finest areas fitted to the stored buildings read as given and from the other
    phone datums (WGS-84, GCJ-02, BD-09), as the households, people and plans imports tell a
    datum from the data. Another reading clearly better (:func:`_clearly_better`): refused,
    nothing stored, naming the ``--crs`` to add; when ``--crs`` was given, a warning only
    (the user declared it; a right file that happens to fit another reading better must go
    in somehow). [] otherwise, and for a file in another CRS (a projected or CGCS2000 file's
    datum is its own) or with no building stored.

    WHY (T70 #1): communities drawn on a 高德 base map, imported without --crs, were stored
    about 540 m off with no word: 88 of 185 buildings in a community, too many for the
    "no building in any community" warning to fire."""
    from geo.crs import DATUM_NAMES, PHONE_DATUMS, WGS84, datum_remedy, reread_geometries

    if source not in PHONE_DATUMS:
        return []
    if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM buildings)")).scalar_one():
        return []
    level, outlines = finest
    here = _fit(conn, outlines)
    fits = {d: _fit(conn, reread_geometries(outlines, source, d)) for d in PHONE_DATUMS}
    better = [d for d in PHONE_DATUMS if d != source and _clearly_better(here, fits[d])]
    if not better:
        return []
    best = min(better, key=lambda d: (fits[d][1], -fits[d][0]))
    (inside, cut), (inside2, cut2) = here, fits[best]
    datum_zh, datum = DATUM_NAMES[best]
    read_zh, read, do_zh, do, how_zh, how = datum_remedy("--crs", source, best, given)
    level_zh = LEVEL_ZH.get(level, level)
    got_zh = f"有 {inside} 栋楼落在{level_zh}内、{cut} 栋被{level_zh}边界切开"
    got = (
        f"hold {inside} stored building{'s' if inside != 1 else ''} and their boundaries cut {cut}"
    )
    fit_zh = f"（{how_zh} {inside2} 栋在内、{cut2} 栋被切开）"
    fit = f" ({how}, {inside2} lie inside and {cut2} are cut)"
    if given:
        return [
            f"文件 {name} 的{level_zh}{read_zh}，{got_zh}，坐标可能是 {datum_zh}{fit_zh}："
            f"已照此导入，请核对；若是，{do_zh}，再重新导入 "
            f"{name}: its {level} outlines {read} {got}; the coordinates may be {datum}{fit}: "
            f"imported as they were read; check them, and if so, {do} and import again"
        ]
    src_zh, src = DATUM_NAMES[source]
    keep = "--crs " + ("wgs84" if source == WGS84 else source)
    raise InputError(
        f"文件 {name} 的{level_zh}{read_zh}，{got_zh}：坐标像是 {datum_zh}，{do_zh}{fit_zh}；"
        f"若坐标确是 {src_zh}，请加 {keep} 重新导入；未导入任何数据 "
        f"{name}: its {level} outlines {read} {got}; the coordinates look like {datum}: "
        f"{do}{fit}; if they really are {src}, import again with {keep}; nothing was imported"
    )


def _overlapping_communities(conn: Connection) -> list[str]:
    """A warning naming the communities (villages) that overlap each other by more than
    AREA_OVERLAP_M2, one of them at least in this import, with the overlap's area; [] when
    none do. WHY: a building in the overlap belongs to one community only (the one holding
    most of its footprint), so the other community's grids and counts leave it out; a clerk
    must see the sloppy line to redraw it (T46, building 43 in a 10 m overlap)."""
    pairs = conn.execute(
        text(
            "SELECT a.code AS a_code, a.name AS a_name, b.code AS b_code, b.name AS b_name, "
            "ST_Area(ST_Intersection(a.geom, b.geom)::geography) AS m2 "
            "FROM areas a JOIN areas b ON a.code < b.code AND a.geom && b.geom "
            "AND ST_Intersects(a.geom, b.geom) "
            "WHERE a.level IN ('community', 'village') AND b.level IN ('community', 'village') "
            "AND (a.code IN (SELECT code FROM stage_areas) "
            "  OR b.code IN (SELECT code FROM stage_areas)) "
            "AND NOT ST_Touches(a.geom, b.geom) ORDER BY a.code, b.code"
        )
    ).all()
    big = [p for p in pairs if p.m2 > AREA_OVERLAP_M2]
    if not big:
        return []
    shown = big[:10]
    zh = "；".join(
        f"{p.a_code} {p.a_name} 与 {p.b_code} {p.b_name} 重叠 {p.m2:,.0f} 平方米" for p in shown
    )
    en = "; ".join(f"{p.a_code} and {p.b_code} by {p.m2:,.0f} m²" for p in shown)
    more_zh = f"；另有 {len(big) - 10} 对" if len(big) > 10 else ""
    more = f"; and {len(big) - 10} more pair{'s' if len(big) > 11 else ''}" if len(big) > 10 else ""
    # (T48 #7) "1 pairs of communities overlap"
    pairs = (
        "1 pair of communities overlaps"
        if len(big) == 1
        else f"{len(big)} pairs of communities overlap"
    )
    return [
        f"有 {len(big)} 对社区边界相互重叠：{zh}{more_zh}。重叠处的楼栋只归其中一个社区"
        "（占其占地面积最多的那个），另一个社区的网格和户数不含它；请在 GIS 中修正边界后重新导入 "
        f"{pairs}: {en}{more}. A building in an overlap "
        "belongs to one of them only (the one holding most of its footprint), and the other's "
        "grids and counts leave it out: correct the outlines and import again"
    ]


# Two outlines are the same when no point of either is further than this from the other:
# gridward's GeoJSON export rounds coordinates to 1e-7° (≤ 0.8 cm), which is no change
SAME_OUTLINE_M = 0.01
# metres per degree of longitude at the equator, at least as many as per degree of latitude or
# longitude in China: a distance in degrees times this is at least the distance in metres,
# so "the same" is never looser than SAME_OUTLINE_M
_M_PER_DEGREE = 111_320.0
_NEAR = (
    "(ST_Expand({a}, {tol}) ~ {b} AND ST_Expand({b}, {tol}) ~ {a} "
    "AND ST_HausdorffDistance({a}, {b}) < {tol})"
)


def _same_outlines(conn: Connection) -> None:
    """Mark the staged areas whose outline is the same as the stored one (within
    SAME_OUTLINE_M), or, for an area stored as made from its children, the same as the union
    of its children as the file leaves them (the file's outline of each child it gives, the
    stored outline of the others; children the file moves elsewhere left out). WHY (T49 #9):
    the unchanged areas export wrote its 1e-7°-rounded outlines again, and turned a district
    and a subdistrict made from their communities into fixed outlines, which no longer
    followed the communities."""
    tol = f"{SAME_OUTLINE_M / _M_PER_DEGREE!r}"
    conn.execute(
        text(
            "UPDATE stage_areas s SET same_outline = true FROM areas a "
            "WHERE a.code = s.code AND " + _NEAR.format(a="a.geom", b="s.geom", tol=tol)
        )
    )
    conn.execute(
        text(
            "UPDATE stage_areas s SET same_outline = true FROM areas p, LATERAL ("
            "  SELECT ST_Union(k.geom) AS geom FROM ("
            "    SELECT coalesce(sc.geom, c.geom) AS geom FROM areas c "
            "    LEFT JOIN stage_areas sc ON sc.code = c.code "
            "    WHERE c.parent_id = p.id "
            "    AND (sc.parent_code IS NULL OR sc.parent_code = p.code) "
            "    UNION ALL SELECT sc.geom FROM stage_areas sc "
            "    WHERE sc.parent_code = p.code AND NOT EXISTS ("
            "      SELECT 1 FROM areas c WHERE c.code = sc.code AND c.parent_id = p.id)"
            "  ) k) u "
            "WHERE p.code = s.code AND p.outline_from_children AND NOT s.same_outline "
            "AND u.geom IS NOT NULL AND " + _NEAR.format(a="u.geom", b="s.geom", tol=tol)
        )
    )


#: a parent made from its children whose exact union leaves them apart where they meet (in
#: parts, or with sliver holes) is their union snap-rounded to this grid (degrees, about
#: 1 mm, as the grids' coverage is): edges that meet within it are one edge. WHY (T70 #20):
#: communities put right from GCJ-02 meet 1e-13° apart, and their exact union was a
#: subdistrict of 2 parts sharing an edge, invalid once the API rounded it
DISSOLVE_GRID = 1e-8


def _dissolved(geom: str) -> str:
    """SQL of the union of the column ``geom`` over a group: exact, unless snapping it to
    DISSOLVE_GRID joins parts or closes holes (children meeting a hair apart). WHY exact
    otherwise: children that share their vertices make a parent that is exactly their union
    and covers each of them (T49 #9: an unchanged export re-imported is no change)."""
    exact, snapped = f"ST_Union({geom})", f"ST_Union({geom}, {DISSOLVE_GRID!r})"
    return (
        f"(CASE WHEN ST_NumGeometries({snapped}) < ST_NumGeometries({exact}) "
        f"OR ST_NRings({snapped}) < ST_NRings({exact}) THEN {snapped} ELSE {exact} END)"
    )


def _follow_children(conn: Connection) -> int:
    """Outline every area made from its children as the union of those linked now, one
    polygon where they meet (:func:`_dissolved`).

    Deepest first, so a district made from subdistricts made from communities follows a
    community linked to it today. An area with no child left keeps its outline (there is
    nothing to draw instead). Returns how many outlines changed.
    """
    changed = 0
    for level in ("subdistrict", "township", "district"):
        changed += (
            conn.execute(
                text(
                    "UPDATE areas p SET geom = u.geom, area_m2 = ST_Area(u.geom::geography), "
                    "updated_at = now() FROM ("
                    f"  SELECT c.parent_id, ST_Multi({_dissolved('c.geom')}) AS geom FROM areas c "
                    "  JOIN areas pp ON pp.id = c.parent_id "
                    "  WHERE pp.outline_from_children AND pp.level = :lvl "
                    "  GROUP BY c.parent_id) u "
                    "WHERE p.id = u.parent_id AND NOT ST_Equals(p.geom, u.geom)"
                ),
                {"lvl": level},
            ).rowcount
            or 0
        )
    return changed


#: an area of a stored code whose name differs and whose outline overlaps the stored one by
#: less than this share of the smaller is a mistyped code, not a correction (T50 #1)
TAKEOVER_OVERLAP = 0.5
#: a stored child area less than this share of which lies inside its parent's new outline
#: is left outside it (T50 #7)
CHILD_INSIDE = 0.5


def _takeovers(
    conn: Connection,
    name: str,
    numbers: dict[str, tuple[str, str]],
    to_create: dict[str, tuple[str, str]],
    replace: set[str],
) -> list[str]:
    """Refuse (nothing stored) a file whose area of a stored code would take that area over:
    (a) another name and an outline overlapping the stored one by less than TAKEOVER_OVERLAP
    of the smaller; (b) another parent than the stored one (given or by the code's prefix,
    when that parent exists or is made here); (c) a new outline leaving stored child areas
    (by parent link, as the file leaves them) mostly outside it; (d) a new outline taking
    buildings of the area's current grids out of it, unless it is the stored outline read
    from another phone datum (a wrong --crs put right, :func:`_put_right_by_datum`). Codes in
    ``replace`` (``--replace-codes``) go through and are named in a warning. An area moved
    away from its buildings (overlapping its stored outline by less than TAKEOVER_OVERLAP)
    with no current grid is taken as a correction, and named in a warning.

    WHY (T50 #1, #2, #7): an existing code was taken as an update, silently: a second
    district's file with one community coded 110108015001 by mistake turned the demo's
    清华园西北社区 into 小月河社区 2 km away (its buildings left every community, past reports
    changed); with another parent_code it was moved to another subdistrict (its planner's
    scope); a district row drawn as the new area only left 清华园街道 outside its district.
    (T70 #2) with its name kept, such a move went through: 54 buildings left the 2 grids of
    清华东路南社区, coverage fell from 53 covered alleys to none, and nothing was said."""
    # (a), (b) and (d): each staged area with its stored namesake
    rows = conn.execute(
        text(
            "SELECT s.code, s.level, a.name AS a_name, s.name AS s_name, "
            "p.code AS ap_code, p.name AS ap_name, s.parent_code AS sp_code, "
            "coalesce(np.name, ns.name) AS sp_name, s.same_outline, "
            "coalesce(ST_Area(ST_Intersection(a.geom, s.geom)::geography) / NULLIF(least("
            "  ST_Area(a.geom::geography), ST_Area(s.geom::geography)), 0), 0) AS share, "
            "ST_Distance(ST_Centroid(a.geom)::geography, ST_Centroid(s.geom)::geography) AS m, "
            "ST_AsBinary(a.geom) AS a_wkb, ST_AsBinary(s.geom) AS s_wkb, "
            "a.id AS aid FROM stage_areas s JOIN areas a ON a.code = s.code "
            "LEFT JOIN areas p ON p.id = a.parent_id "
            "LEFT JOIN areas np ON np.code = s.parent_code "
            "LEFT JOIN stage_areas ns ON ns.code = s.parent_code "
            "ORDER BY s.code"
        )
    ).all()
    problems: list[tuple[str, str, str]] = []  # (code, Chinese, English)
    moves: list[str] = []  # warnings: areas moved away from their buildings, no grid held
    for r in rows:
        # the parent the file links it to, when that link will be made
        new_parent = r.sp_code if (r.sp_name is not None or r.sp_code in to_create) else None
        moved = r.ap_code is not None and new_parent is not None and new_parent != r.ap_code
        renamed_away = r.a_name != r.s_name and r.share < TAKEOVER_OVERLAP
        # what leaves the area with the new outline (an outline kept as stored moves nothing)
        out = None if r.same_outline else _leaving(conn, r.aid, r.code)
        by_datum = bool(out and out.n) and _put_right_by_datum(r.a_wkb, r.s_wkb)
        shifted = bool(out and out.gn) and not by_datum
        where_zh, where = numbers[r.code]
        lvl_zh = LEVEL_ZH.get(r.level, r.level)
        pct, km = f"{r.share * 100:.0f}%", f"{r.m / 1000:.1f}"
        if not (moved or renamed_away or shifted):
            if out and out.n and r.share < TAKEOVER_OVERLAP and not by_datum:
                moves.append(_moved_words(r, out, where_zh, where, pct, km))
            continue
        sp_name = r.sp_name or to_create.get(r.sp_code, ("", ""))[1]
        ap_zh, ap = (f"{r.ap_code} {r.ap_name}",) * 2 if r.ap_code else ("无", "none")
        sp_zh, sp = (f"{r.sp_code} {sp_name}".strip(),) * 2 if new_parent else ("无", "none")
        zh = (
            f"{where_zh}，{lvl_zh} {r.code}：已存为 {r.a_name}（上级 {ap_zh}），文件中为 "
            f"{r.s_name}（上级 {sp_zh}）；两者边界重叠 {pct}，中心相距 {km} 公里"
        )
        en = (
            f"{where}, {r.level} {r.code}: stored as {r.a_name} (parent {ap}), the file says "
            f"{r.s_name} (parent {sp}); the outlines overlap {pct}, their centres {km} km apart"
        )
        # what a community holds: committed grids, buildings the new outline leaves out
        g = conn.execute(
            text(
                "SELECT count(*) AS n, coalesce(sum(households), 0) AS hh FROM grids "
                "WHERE community_id = :a AND level = 1 AND retired_at IS NULL"
            ),
            {"a": r.aid},
        ).one()
        if g.n:
            zh += f"；它有 {g.n} 个现行网格（{g.hh} 户）"
            en += f"; it has {g.n} current grid{'s' if g.n != 1 else ''} ({g.hh} households)"
        b = out or _leaving(conn, r.aid, r.code)
        if b.n:
            zh += f"；按新边界，其 {b.n} 栋楼（{b.hh} 户）将离开该社区"
            en += (
                f"; {b.n} building{'s' if b.n != 1 else ''} ({b.hh} households) would fall "
                "outside the new outline and leave it"
            )
            if b.gn and b.gn != b.n:
                zh += f"（其中 {b.gn} 栋在现行网格中）"
                en += f" ({b.gn} of them in its current grids)"
        problems.append((r.code, zh, en))
    # (c) stored children the new outline leaves mostly outside
    kids = conn.execute(
        text(
            "SELECT s.code, s.level, s.name, c.code AS c_code, c.level AS c_level, "
            "c.name AS c_name, coalesce(ST_Area(ST_Intersection(k.geom, s.geom)::geography) "
            "  / NULLIF(ST_Area(k.geom::geography), 0), 0) AS share "
            "FROM stage_areas s JOIN areas a ON a.code = s.code "
            "JOIN areas c ON c.parent_id = a.id LEFT JOIN stage_areas sc ON sc.code = c.code "
            "CROSS JOIN LATERAL (SELECT coalesce(sc.geom, c.geom) AS geom) k "
            "WHERE NOT s.same_outline AND (sc.code IS NULL OR sc.parent_code = a.code) "
            "ORDER BY s.code, c.code"
        )
    ).all()
    outside: dict[str, list[Any]] = {}
    for k in kids:
        if k.share < CHILD_INSIDE:
            outside.setdefault(k.code, []).append(k)
    for code, ks in outside.items():
        k0 = ks[0]
        where_zh, where = numbers[code]
        shown = ks[:10]
        more_zh = f" 等 {len(ks)} 个" if len(ks) > 10 else ""
        more = f" and {len(ks) - 10} more" if len(ks) > 10 else ""
        zh = (
            f"{where_zh}，{LEVEL_ZH.get(k0.level, k0.level)} {code} {k0.name}：新边界将使已存的"
            "下级区划大部分落在其外："
            + "、".join(
                f"{LEVEL_ZH.get(k.c_level, k.c_level)} {k.c_code} {k.c_name}"
                f"（{k.share * 100:.0f}% 在内）"
                for k in shown
            )
            + more_zh
        )
        en = (
            f"{where}, {k0.level} {code} {k0.name}: its new outline would leave stored child "
            "areas mostly outside it: "
            + ", ".join(
                f"{k.c_level} {k.c_code} {k.c_name} ({k.share * 100:.0f}% inside)" for k in shown
            )
            + more
        )
        problems.append((code, zh, en))
    if not problems:
        return moves
    warned = [p for p in problems if p[0] in replace]
    refused = [p for p in problems if p[0] not in replace]
    if not refused:
        # named with --replace-codes: stored as the file says, and said so
        n = len(warned)
        return [
            f"已按 --replace-codes 替换 {n} 个已存的同代码区划：{'；'.join(p[1] for p in warned)} "
            f"replaced {n} stored area{'s' if n != 1 else ''} of the same code as "
            f"--replace-codes says: {'; '.join(p[2] for p in warned)}"
        ] + moves
    codes = sorted({p[0] for p in refused})
    n = len(codes)
    listed = ",".join(codes)
    raise InputError(
        f"文件 {name} 中有 {n} 个区划会改掉已存的同代码区划：{'；'.join(p[1] for p in refused)}。"
        "同一代码而名称不同且边界几乎不重叠（不足较小者的 50%）、改换上级、新边界使已存的下级"
        "区划大多落在其外、或新边界使现行网格中的楼栋离开该社区（且新边界不是已存边界按 "
        "GCJ-02/BD-09 换算的坐标系改正），多半是区划代码写错或边界画错了：请核对后重新导入"
        "（上级区划的边界可由其下级生成，文件中不给该行即可）；若确是政府调整（社区更名并重划"
        f"边界、划归另一街道，或重划边界），请加 --replace-codes {listed} 重新导入；未导入任何"
        "数据 "
        f"{name}: {n} area{'s' if n != 1 else ''} would take over a stored area of the same "
        f"code: {'; '.join(p[2] for p in refused)}. The same code with another name and an "
        "outline barely overlapping the stored one (under 50 % of the smaller), another "
        "parent, a new outline leaving stored child areas mostly outside, or a new outline "
        "taking buildings of current grids out of the community (and not the stored outline "
        "put right by a GCJ-02/BD-09 datum), is most likely a mistyped code or a wrong "
        "outline: check them and import again (a parent area's outline can be made from its "
        "children: leave its row out of the file); if it is a real change (a community "
        "renamed and redrawn, moved to another subdistrict, or a boundary redrawn), import "
        f"again with --replace-codes {listed}; nothing was imported"
    )


def _leaving(conn: Connection, aid: int, code: str) -> Any:
    """(n, hh, gn, ghh) of the buildings of area ``aid`` whose inner point the staged outline
    of ``code`` leaves out: all of them, and those in its current level-1 grids (by the grids'
    own members, :func:`geo.plan_history.grid_members_sql`), with their households."""
    from geo.plan_history import grid_members_sql

    return conn.execute(
        text(
            "WITH m AS (SELECT m.bid FROM grids g "
            f"  CROSS JOIN LATERAL ({grid_members_sql('g')}) m "
            "  WHERE g.community_id = :a AND g.level = 1 AND g.retired_at IS NULL) "
            "SELECT count(*) AS n, coalesce(sum(b.households), 0) AS hh, "
            "count(*) FILTER (WHERE b.id IN (SELECT bid FROM m)) AS gn, "
            "coalesce(sum(b.households) FILTER (WHERE b.id IN (SELECT bid FROM m)), 0) AS ghh "
            "FROM buildings b JOIN stage_areas s ON s.code = :c WHERE b.community_id = :a "
            "AND NOT ST_Intersects(s.geom, ST_PointOnSurface(b.geom))"
        ),
        {"a": aid, "c": code},
    ).one()


#: a new outline within this of the stored one read from another phone datum is that
#: outline put right (BD-09 is converted to about 0.15 m, GCJ-02 to well under 1 mm)
DATUM_SAME_M = 1.0


def _put_right_by_datum(stored: bytes, new: bytes) -> bool:
    """Whether the ``new`` outline (WKB) is the ``stored`` one read from another phone datum
    (WGS-84, GCJ-02, BD-09), within DATUM_SAME_M: a wrong --crs put right, whatever buildings
    it moves. WHY (T70 #2): 五道口's file moved 清华东路南社区 2 km with its name kept, taking
    54 buildings out of its 2 grids with no word, while T70's own GCJ-02 correction (540 m)
    must go through."""
    from geo.crs import PHONE_DATUMS, reread_geometries

    old, now = shapely.from_wkb(stored), shapely.from_wkb(new)
    tol = DATUM_SAME_M / _M_PER_DEGREE
    return any(
        shapely.hausdorff_distance(reread_geometries([old], src, dst)[0], now) < tol
        for src in PHONE_DATUMS
        for dst in PHONE_DATUMS
        if src != dst
    )


def _moved_words(r: Any, out: Any, where_zh: str, where: str, pct: str, km: str) -> str:
    """The warning for an area of a stored code (no current grid) whose new outline leaves its
    buildings and barely overlaps the stored one: imported as a correction, and said so.
    WHY (T70 #2): README takes a same-name area moved far as a wrong --crs put right, and
    such a move emptied a community with no word."""
    lvl_zh = LEVEL_ZH.get(r.level, r.level)
    s = "s" if out.n != 1 else ""
    return (
        f"{where_zh}，{lvl_zh} {r.code} {r.s_name}：新边界与已存边界重叠 {pct}，中心相距 {km} "
        f"公里，其 {out.n} 栋楼（{out.hh} 户）已离开该{lvl_zh}；已照文件导入（同代码的区划移远"
        "视为改正边界）：若不是改正，请核对区划代码，用原边界重新导入 "
        f"{where}, {r.level} {r.code} {r.s_name}: the new outline overlaps the stored one "
        f"{pct}, their centres {km} km apart, and {out.n} building{s} ({out.hh} households) "
        f"left it; imported as the file says (an area of a stored code moved far is taken "
        "as a correction): if it is not one, check its code and import its old outline again"
    )


def _none_if_na(v: Any) -> Any:
    return None if is_na(v) else v
