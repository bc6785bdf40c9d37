"""File I/O for the file-mode CLI: read area/buildings/streets, write grids as GeoJSON.

Kept apart from the engine (which never touches files). Inputs may be in any CRS the file
declares (converted to EPSG:4326); a file without a CRS is taken as EPSG:4326 unless the
caller declares one — including GCJ-02 / BD-09, which no file format can declare. A file
whose coordinates are not longitude/latitude once converted is refused, naming it; one all in
longitude/latitude range while the caller names a projected CRS is read as WGS-84, with a
warning (:func:`read_layer`). An area file of several communities: :func:`read_areas`.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, geometries_to_wgs84, normalize_crs
from geo.errors import InputError
from geo.partition.coverage import clean_coverage
from geo.vector_io import HOUSEHOLD_NAMES, atomic_file, pick_column

# what a file holds, in the Chinese lead of a message
_WHAT_ZH = {"buildings": "楼栋", "streets": "街巷", "area": "区域"}


def read_layer(path: Path, what: str, crs: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file into EPSG:4326; InputError naming the file on any failure."""
    path = Path(path)
    what_zh = _WHAT_ZH.get(what, what)
    if not path.is_file():
        raise InputError(f"{what_zh}文件 {path} 不存在 {what} file not found: {path}")
    try:
        with warnings.catch_warnings():
            # GDAL renumbering a repeated feature id: the copy is named below, not there
            warnings.filterwarnings("ignore", message="Several features with id")
            gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(
            f"无法读取{what_zh}文件 {path}（{exc}） cannot read {what} file {path}: {exc}"
        ) from None
    # features are numbered from 1 in errors ("building 3: households is missing"), as a GIS
    # and `gridward match` number them
    gdf.index = pd.RangeIndex(1, len(gdf) + 1)
    if what == "buildings" and "households" not in gdf.columns:
        given = pick_column(gdf.columns, HOUSEHOLD_NAMES)  # 户数, as the importers read it
        if given is not None:
            gdf = gdf.rename(columns={given: "households"})
    raw = np.asarray(gdf.geometry.values, dtype=object)
    name = normalize_crs(crs) if crs is not None else None
    notes: list[str] = []
    if name is not None and _projected(name) and _all_degrees(raw):
        # WHY read as WGS-84, not refused (T64 #2): coordinates all within ±180 / ±90 are no
        # real data in a projected CRS (they would lie within 200 m of its false origin, for
        # China's Gauss-Krüger and UTM zones hundreds of kilometres outside the zone), so the
        # file is plainly longitude/latitude; and a planner's files are often mixed (the
        # survey's area and buildings in CGCS2000 Gauss-Krüger, streets gridward exported in
        # RFC 7946 GeoJSON, WGS-84 by definition): a refusal would only make them convert one
        # file. Converted as --crs says, the streets landed near the equator and were lost
        # without a word (street share 0.0).
        notes.append(
            f"{what_zh}文件 {path} 的坐标都在经纬度范围内，不是 --crs 所说的平面坐标系 {name}："
            f"按 WGS-84 经纬度读取 {what} file {path}: its coordinates all lie in "
            f"longitude/latitude range, not in the projected CRS {name} --crs names: read "
            "as WGS-84 longitude/latitude"
        )
        name = None
    if name is not None:
        geoms = geometries_to_wgs84(raw, name)
        gdf = gpd.GeoDataFrame(gdf.drop(columns="geometry"), geometry=geoms, crs=WGS84)
    elif gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    else:
        gdf = gdf.to_crs(WGS84)
    _check_range(path, what, raw, np.asarray(gdf.geometry.values, dtype=object), name)
    gdf.attrs["warnings"] = notes
    return gdf


def _projected(name: str) -> bool:
    """Whether CRS ``name`` (:func:`geo.crs.normalize_crs`'s) is projected (metres)."""
    if name in ("gcj02", "bd09"):
        return False
    from pyproj import CRS

    return bool(CRS.from_user_input(name).is_projected)


def _coords(geoms: np.ndarray) -> np.ndarray:
    ok = ~shapely.is_missing(geoms)
    return shapely.get_coordinates(geoms[ok])


def _all_degrees(geoms: np.ndarray) -> bool:
    """Whether the file has coordinates and all of them lie in longitude/latitude range."""
    xy = _coords(geoms)
    return bool(len(xy)) and bool(
        (np.abs(xy[:, 0]) <= 180).all() and (np.abs(xy[:, 1]) <= 90).all()
    )


def _check_range(
    path: Path, what: str, raw: np.ndarray, geoms: np.ndarray, crs: str | None
) -> None:
    """InputError naming the file when its coordinates, converted to WGS-84, are not
    longitude/latitude. WHY (T64 #1): a GeoJSON in Gauss-Krüger metres without a CRS (read as
    RFC 7946 says, WGS-84) went on to a traceback deep in the engine; ``gridward import
    areas`` refuses the same file (geo.vector_io.read_vector)."""
    xy = _coords(geoms)
    if not len(xy):
        return
    finite = np.isfinite(xy).all(axis=1)
    bad = ~finite
    bad[finite] = (np.abs(xy[finite, 0]) > 180) | (np.abs(xy[finite, 1]) > 90)
    if not bad.any():
        return
    what_zh = _WHAT_ZH.get(what, what)
    if crs is not None:
        raise InputError(
            f"{what_zh}文件 {path} 从 {crs} 换算后坐标超出经纬度范围：--crs 是否写对了？ "
            f"{what} file {path}: coordinates outside longitude/latitude range after "
            f"converting from {crs}: is --crs right?"
        )
    given = _coords(raw)  # as the file writes them (a conversion keeps every coordinate)
    x, y = (f"{v:.10g}" for v in (given if len(given) == len(xy) else xy)[int(np.argmax(bad))])
    raise InputError(
        f"{what_zh}文件 {path} 的坐标（如 {x}, {y}）超出经纬度范围，像是平面坐标（米）："
        "请用 --crs 声明其坐标系（如北京 CGCS2000 3度带 EPSG:4548） "
        f"{what} file {path}: coordinates outside longitude/latitude range (e.g. {x}, {y}), "
        "projected (metres) by the look of them: declare the file's CRS with --crs "
        "(e.g. EPSG:4548, CGCS2000 3-degree zone, for Beijing)"
    )


def feature_names(gdf: gpd.GeoDataFrame) -> Callable[[Hashable], tuple[str, str]]:
    """How an error names a feature of a file read by :func:`read_layer`: by its number
    (the index, from 1) and, when the file gives one, its own ``id`` property:
    "第 55 个要素（id 147）" / "feature 55 (id 147)".

    WHY (T38 M1): "楼栋 55" named the 55th feature, whose id is 147, and a planner read it as
    building 55."""
    col = next((c for c in gdf.columns if str(c).lower() == "id"), None)
    ids = gdf[col] if col is not None else None

    def name(i: Hashable) -> tuple[str, str]:
        zh, en = f"第 {i} 个要素", f"feature {i}"
        v = ids.get(i) if ids is not None else None
        if v is not None and not pd.isna(v):
            if isinstance(v, (float, np.floating)) and float(v).is_integer():
                v = int(v)  # a GeoJSON id column with a gap reads as float
            text = str(v).strip()
            if text:
                zh, en = f"{zh}（id {text}）", f"{en} (id {text})"
        return zh, en

    return name


def straddle_warning(area: shapely.Geometry, gdf: gpd.GeoDataFrame) -> str | None:
    """A warning naming the buildings that straddle the area's line and are taken whole
    (overlapping it: :func:`geo.partition.validate.placement`), or None.

    WHY (T38 M1): they were refused, though database mode takes them whole; now they are
    kept, and the grids then cross the area's line by them, which the planner should know."""
    from geo.partition.validate import placement

    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ok = ~shapely.is_missing(geoms) & np.isin(shapely.get_type_id(geoms), [3, 6])
    ok &= ~shapely.is_empty(geoms) & shapely.is_valid(geoms)
    idx = np.flatnonzero(ok)
    straddle, _out = placement(area, geoms[idx])
    if not len(straddle):
        return None
    name = feature_names(gdf)
    names = [name(gdf.index[i]) for i in idx[straddle][:5].tolist()]
    more = len(straddle) - len(names)
    zh = "、".join(n[0] for n in names) + (f"（另有 {more} 栋）" if more else "")
    en = ", ".join(n[1] for n in names) + (f" (+{more} more)" if more else "")
    return (
        f"{len(straddle)} 栋楼跨越区域边界，整栋划入（网格随之越过区域边界，"
        f"与数据库模式相同）：{zh} "
        f"{len(straddle)} building(s) straddle the area boundary and are taken whole (their "
        f"grids cross the boundary by them, as in database mode): {en}"
    )


def communities_straddle_warning(
    straddling: dict[Hashable, str], gdf: gpd.GeoDataFrame
) -> str | None:
    """:func:`straddle_warning` for an area file of several communities
    (``geo.partition.communities``): the buildings straddling their community's line,
    taken whole by it (label → its code), or None."""
    if not straddling:
        return None
    name = feature_names(gdf)
    shown = list(straddling.items())[:5]
    more = len(straddling) - len(shown)
    zh = "、".join(f"{name(i)[0]}（归 {c}）" for i, c in shown) + (
        f"（另有 {more} 栋）" if more else ""
    )
    en = ", ".join(f"{name(i)[1]} (to {c})" for i, c in shown) + (
        f" (+{more} more)" if more else ""
    )
    return (
        f"{len(straddling)} 栋楼跨越社区边界，整栋划入其轮廓覆盖最多的社区（其网格随之越过社区"
        f"边界，邻社区的网格让出该楼，与数据库模式相同）：{zh} "
        f"{len(straddling)} building(s) straddle a community's line and are taken whole by the "
        f"community holding most of the footprint (its grids cross the line by them, the "
        f"neighbours' grids leave them out, as in database mode): {en}"
    )


def streets_warning(area: shapely.Geometry, sdf: gpd.GeoDataFrame, path: Path) -> str | None:
    """A warning when no street of the streets file lies in the area (EPSG:4326), or None.
    WHY (T64 #2): streets read in the wrong CRS, or of another place, were dropped without a
    word, and the grids followed no street (street share 0.0)."""
    geoms = np.asarray(sdf.geometry.values, dtype=object)
    geoms = geoms[~shapely.is_missing(geoms)]
    shapely.prepare(area)
    if len(geoms) and shapely.intersects(area, geoms).any():
        return None
    return (
        f"街巷文件 {path} 的 {len(geoms)} 条街巷没有一条在区域内：网格无法沿街划分"
        "（坐标系是否正确？是否为本区域的街巷？） "
        f"streets file {path}: none of its {len(geoms)} streets lies in the area, so the "
        "grids cannot follow streets (is its CRS right? are they this area's streets?)"
    )


# Two footprints sharing more than this share of the smaller one are named in a warning.
OVERLAP_SHARE = 0.10


# touching footprints: feature positions a < b and the share of the smaller they share
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]


def _pairs(gdf: gpd.GeoDataFrame) -> Pairs:
    """Feature positions (a < b) of polygonal footprints sharing area, and the share of
    the smaller footprint they share (neighbours touching along a wall share none)."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    ok = ~shapely.is_missing(geoms) & np.isin(shapely.get_type_id(geoms), [3, 6])
    ok &= ~shapely.is_empty(geoms) & shapely.is_valid(geoms)
    idx = np.flatnonzero(ok)
    a, b = shapely.STRtree(geoms[idx]).query(geoms[idx], predicate="intersects")
    keep = a < b
    a, b = idx[a[keep]], idx[b[keep]]
    smaller = np.minimum(shapely.area(geoms[a]), shapely.area(geoms[b]))
    share = shapely.area(shapely.intersection(geoms[a], geoms[b])) / np.maximum(smaller, 1e-300)
    real = share > 1e-6
    return a[real], b[real], share[real]


def _named(gdf: gpd.GeoDataFrame, a: np.ndarray, b: np.ndarray, extra: list[str]) -> str:
    """'features 1 and 36 (…), …' for the first few pairs, by feature number."""
    shown = [
        f"{gdf.index[i]} and {gdf.index[j]}{x}"
        for i, j, x in zip(a[:5].tolist(), b[:5].tolist(), extra[:5], strict=True)
    ]
    more = f" (+{len(a) - 5} more)" if len(a) > 5 else ""
    return "features " + ", ".join(shown) + more


def _named_zh(gdf: gpd.GeoDataFrame, a: np.ndarray, b: np.ndarray, extra: list[str]) -> str:
    """:func:`_named` in Chinese: '第 1 与 36 个要素（…）、…'."""
    shown = [
        f"第 {gdf.index[i]} 与 {gdf.index[j]} 个要素{x}"
        for i, j, x in zip(a[:5].tolist(), b[:5].tolist(), extra[:5], strict=True)
    ]
    more = f"（另有 {len(a) - 5} 对）" if len(a) > 5 else ""
    return "、".join(shown) + more


def footprint_check(gdf: gpd.GeoDataFrame, path: Path) -> str | None:
    """:func:`refuse_identical` and :func:`overlap_warning` of a buildings file, on one
    computation of its touching pairs (an STRtree and an intersection for each)."""
    pairs = _pairs(gdf)
    refuse_identical(gdf, path, pairs)
    return overlap_warning(gdf, pairs)


def refuse_identical(gdf: gpd.GeoDataFrame, path: Path, pairs: Pairs | None = None) -> None:
    """InputError naming buildings drawn twice (same footprint, whatever their ids).

    WHY: a GIS merge or export that repeats a feature counted its households twice, and
    the engine fuses the copies into one building silently (tester W's F9). ``gdf``'s index
    is the feature number (from 1); the database import (geo.importer) asks it too."""
    a, b, _share = pairs if pairs is not None else _pairs(gdf)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    same = shapely.equals(geoms[a], geoms[b])
    if same.any():
        blank = [""] * int(same.sum())
        named, named_zh = (
            _named(gdf, a[same], b[same], blank),
            _named_zh(gdf, a[same], b[same], blank),
        )
        raise InputError(
            f"楼栋文件 {Path(path).name} 中{named_zh}的轮廓"
            "完全相同（同一楼栋列了两次，户数会算两次）：请删去重复的 "
            f"buildings file {Path(path).name}: "
            f"{named} have identical "
            "footprints (a building listed twice counts its households twice): drop the copies"
        )


def overlap_warning(gdf: gpd.GeoDataFrame, pairs: Pairs | None = None) -> str | None:
    """A warning naming footprints that overlap by more than ``OVERLAP_SHARE`` of the
    smaller one, or None.

    A warning, not an error: overlapping footprints are common and legitimate (OSM
    building parts, a tower over its podium) and the engine keeps them together in one
    grid; only a planner can tell whether both carry the same households."""
    a, b, share = pairs if pairs is not None else _pairs(gdf)
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    big = (share > OVERLAP_SHARE) & ~shapely.equals(geoms[a], geoms[b])
    if not big.any():
        return None
    pct = [f" ({100 * x:.0f}%)" for x in share[big].tolist()]
    pct_zh = [f"（{100 * x:.0f}%）" for x in share[big].tolist()]
    return (
        f"{int(big.sum())} 对楼栋轮廓重叠超过较小者的 {100 * OVERLAP_SHARE:.0f}%："
        f"{_named_zh(gdf, a[big], b[big], pct_zh)}；各自保留户数（请确认没有重复计数），"
        "每对楼栋留在同一网格 "
        f"{int(big.sum())} pair(s) of building footprints overlap by more than "
        f"{100 * OVERLAP_SHARE:.0f}% of the smaller one: {_named(gdf, a[big], b[big], pct)}; "
        "each keeps its own households (check none is counted twice), and the pair stays "
        "in one grid"
    )


# area properties that carry the community's 12-digit code, as the area importer reads them
_AREA_CODE_NAMES = ("code", "编码", "代码")


#: the grid-code prefix of an area whose file gives no 12-digit code (and no --code-prefix)
DEFAULT_PREFIX = "110108000000"

# a community's code, as file mode and the area importer take it
_CODE_RULE_ZH = "12 位社区编码（6 位区 + 3 位街道 + 3 位社区）"
_CODE_RULE = "12-digit community code (6 district + 3 subdistrict + 3 community)"


def _code_text(value: Any) -> str | None:
    """An area code cell as text, None when blank. A whole number read as a float (a DBF
    numeric field: 110108015003.0) is that number, as ``gridward import areas`` reads it."""
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _is_code(code: str | None) -> bool:
    return code is not None and len(code) == 12 and code.isdigit()


def _feature_codes(gdf: gpd.GeoDataFrame) -> list[str | None]:
    col = pick_column(gdf.columns, _AREA_CODE_NAMES)
    if col is None:
        return [None] * len(gdf)
    return [_code_text(v) for v in gdf[col].tolist()]


def area_code(path: Path, crs: str | None = None) -> str | None:
    """The 12-digit community code the area file's features carry, when they all carry
    the same one (None otherwise). WHY: file mode numbered grids with a made-up Haidian
    prefix though the area said which community it is (tester W's F16)."""
    codes = {c for c in _feature_codes(read_layer(path, "area", crs)) if c is not None}
    code = codes.pop() if len(codes) == 1 else None
    return code if _is_code(code) else None


@dataclass
class AreaFile:
    """What an area file holds: its communities, each (grid-code prefix, outline in
    EPSG:4326), in the file's order; one for a file of one area (as file mode always read
    it); and the ``warning:`` lines to give."""

    communities: list[tuple[str, shapely.Geometry]]
    warnings: list[str] = field(default_factory=list)


def read_areas(path: Path, crs: str | None = None, code_prefix: str | None = None) -> AreaFile:
    """The area file's communities and their grid-code prefixes.

    Its polygon features are grouped by their code (property ``code``, ``编码`` or ``代码``):
    features of one code are one community, its outline their union.

    * One feature, or features all of one code: one area, as file mode always read it,
      numbered under ``code_prefix``, else its code, else :data:`DEFAULT_PREFIX`. A code that
      is not 12 digits is named in a warning (it was passed over in silence, T64 #9).
    * ``code_prefix`` with several features of one code or of none: one area under it, as
      before (the planner said which community they are); with features of several codes it
      is refused (it names one community).
    * Otherwise each code is a community of its own, partitioned on its own and numbered
      under its code (``geo.partition.communities``), so each feature needs a 12-digit code:
      the first without one is refused, named by its number (features of no code at all
      were merged into one area under the default prefix: which they are is the planner's to
      say).

    WHY (T64 #3, #9): two communities in one file were merged into one area under the
    default prefix, and the empty one became part of a grid in two pieces."""
    gdf = read_layer(path, "area", crs)
    notes = list(gdf.attrs.get("warnings", []))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    keep = ~shapely.is_missing(geoms)
    keep[keep] = np.isin(shapely.get_type_id(geoms[keep]), [3, 6])
    if not keep.any():
        raise InputError(f"区域文件 {path} 中没有面 area file {path} holds no polygon")
    bad = keep & ~shapely.is_valid(geoms)
    if bad.any():
        reason = shapely.is_valid_reason(geoms[bad][0])
        raise InputError(
            f"区域文件 {path} 中的面无效（{reason}） area file {path}: invalid polygon ({reason})"
        )
    numbers = gdf.index[keep].tolist()
    codes = [c for c, k in zip(_feature_codes(gdf), keep.tolist(), strict=True) if k]
    polys = geoms[keep]
    given = {c for c in codes if c is not None}
    one = len(given) == 1 and None not in codes  # features of one code
    if len(polys) == 1 or one or (code_prefix is not None and len(given) <= 1):
        code = next(iter(given), None)
        if code_prefix is None and code is not None and not _is_code(code):
            notes.append(
                f"区域文件 {path} 的编码 {code} 不是 {_CODE_RULE_ZH}：网格编码用默认前缀 "
                f"{DEFAULT_PREFIX}；可用 --code-prefix 指定社区编码 area file {path}: code "
                f"{code} is not a {_CODE_RULE}: the grids are numbered under the default prefix "
                f"{DEFAULT_PREFIX}; give the community's code with --code-prefix"
            )
            code = None
        if code_prefix is not None:
            code = code_prefix  # checked by the engine (12 digits), as before
        elif not _is_code(code):
            code = None
        return AreaFile([(code or DEFAULT_PREFIX, shapely.union_all(polys))], notes)
    if code_prefix is not None:
        shown = ", ".join(sorted(given))
        raise InputError(
            f"--code-prefix 只能给出一个社区的编码，而区域文件 {path} 的 {len(polys)} 个面要素带有 "
            f"{len(given)} 个不同的编码（{shown}）：请去掉 --code-prefix，各要素按自己的编码划分 "
            f"--code-prefix gives one community's code, but the {len(polys)} polygon features "
            f"of area file {path} carry {len(given)} different codes ({shown}): leave "
            "--code-prefix out, and each feature is partitioned under its own code"
        )
    for i, c in zip(numbers, codes, strict=True):
        if not _is_code(c):
            what_zh = "没有编码" if c is None else f"的编码 {c} 不是 12 位数字"
            what = "has no code" if c is None else f"has code {c}, not 12 digits"
            raise InputError(
                f"区域文件 {path} 的第 {i} 个要素{what_zh}：区域文件有多个社区时，每个要素作为一个"
                f"社区单独划分，须有 {_CODE_RULE_ZH}，如 110108015003（若都是同一区域，请合为"
                f"一个要素，或用 --code-prefix 指定其编码） area file {path}: feature {i} "
                f"{what}: in an area file of several communities each feature is partitioned as "
                f"a community of its own and needs its {_CODE_RULE}, e.g. 110108015003 (if they "
                "are all one area, make them one feature, or give its code with --code-prefix)"
            )
    groups: dict[str, list[int]] = {}
    for k, c in enumerate(codes):
        groups.setdefault(str(c), []).append(k)
    return AreaFile([(c, shapely.union_all(polys[ks])) for c, ks in groups.items()], notes)


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_grids(grids: gpd.GeoDataFrame, summary: dict[str, Any], path: Path) -> None:
    """GeoJSON FeatureCollection of the grids, with the plan summary as a foreign member."""
    # coordinates to 1e-8° (about 1 mm: the engine's reprojection leaves float noise such as
    # 116.31300000000002), all grids together so that they stay a clean coverage
    # (geo.partition.coverage: rounding each grid on its own opened slivers, T64 F5)
    grids = grids.set_geometry(
        gpd.GeoSeries(
            clean_coverage(np.asarray(grids.geometry.values, dtype=object)),
            index=grids.index,
            crs=grids.crs,
        )
    )
    doc = json.loads(grids.to_json(na="null", drop_id=True))
    doc["summary"] = _clean(summary)
    path = Path(path)
    try:
        with atomic_file(path) as tmp:  # renamed over it: never half-written
            tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"无法写入文件 {path}（{exc.strerror}） cannot write {path}: {exc.strerror}"
        ) from None
