"""Input checks: every bad input becomes one InputError that names the problem.

Checked before any geometry work so a planner learns at once what to fix, never from a
traceback deep inside the solver.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from geo.partition.params import PartitionParams

# A building counts as inside the area when at least this share of its footprint is: all of
# it but float noise (a footprint whose wall runs on the area's line, outside by 1e-12 m²).
# WHY not 0.99 (T64 #4): a building 99.46 % inside was clipped to the area, its 8.44 m²
# outside in no grid and its name in no warning, where database mode keeps it whole; one
# poking out by a few centimetres is now taken whole and named like any other.
INSIDE_SHARE = 1 - 1e-9

#: How a message names a building: its label (the frame's index) → (Chinese, English).
#: By default the index is the building's id ("楼栋 147" / "building 147"); file mode numbers
#: the features (geo.partition.io.feature_names: "第 55 个要素（id 147）" / "feature 55 (id 147)").
Namer = Callable[[Hashable], tuple[str, str]]


def building_name(i: Hashable) -> tuple[str, str]:
    """The default :data:`Namer`: the index is the building's id."""
    return f"楼栋 {i}", f"building {i}"


def _gap(who: str) -> str:
    """What stands between a building's Chinese name and the words after it: a space after
    a number or id ("楼栋 3 缺少户数"), none after a character ("第 3 个要素缺少户数")."""
    tail = who[-1:]
    return " " if tail.isascii() and tail.isalnum() else ""


def placement(area: shapely.Geometry, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the footprints that straddle the area's line but belong to it, and of
    those that do not belong to it.

    A footprint belongs to the area when it overlaps it (more than touching its line): the
    database gives a building to the community covering most of its footprint, and one
    overlapping no other community to the one it overlaps
    (geo.building_links.link_buildings_to_communities); a file names one area, so the rest
    of a building is taken to lie in no community. WHY (T46 #1, #2): this was the inner
    point, as the database's rule was; a file exported from the database now holds buildings
    whose inner point is outside (in a gap between two outlines) or under half inside (on
    the district's edge), and each test but overlap refused some of them. Outside by no more
    than float noise (``INSIDE_SHARE``), a footprint counts as inside (what noise pokes out
    is clipped); more, it straddles: it is taken whole and the area widened by it, as
    database mode's outline is (geo.plans.OUTLINE_GEOM), and
    :func:`geo.partition.io.straddle_warning` names it."""
    shapely.prepare(area)
    todo = np.flatnonzero(~shapely.covers(area, geoms))
    if not len(todo):
        return todo, todo
    share = shapely.area(shapely.intersection(geoms[todo], area)) / shapely.area(geoms[todo])
    keep = share < INSIDE_SHARE
    todo, share = todo[keep], share[keep]
    mine = share > 0
    return todo[mine], todo[~mine]


# No building holds more households than this (the largest towers hold a few thousand): a
# count above it is a typo or a unit mix-up (people, m², 1e12 from a spreadsheet), and
# taken at its word it staffed a grid with ten billion workers (tester W's F15).
MAX_BUILDING_HOUSEHOLDS = 100_000


def _check_params(params: PartitionParams) -> None:
    lo, hi = params.min_households, params.max_households
    for name, v in (("min-households", lo), ("max-households", hi)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise InputError(
                f"户数上下限 {name} 须为整数（现为 {v!r}） {name} must be an integer, got {v!r}"
            )
    if lo < 0:
        raise InputError(
            f"户数下限 min-households 不能为负（现为 {lo}） min-households must be >= 0, got {lo}"
        )
    if hi <= 0:
        raise InputError(
            f"户数上限 max-households 须大于 0（现为 {hi}） max-households must be > 0, got {hi}"
        )
    if lo > hi:
        raise InputError(
            f"户数下限大于上限：min-households（{lo}）大于 max-households（{hi}） "
            f"min-households ({lo}) is greater than max-households ({hi})"
        )
    if params.households_per_worker < 1:
        raise InputError("每名专职网格员负责的户数须至少为 1 households per worker must be >= 1")
    prefix = str(params.code_prefix)
    if len(prefix) != 12 or not prefix.isdigit():
        raise InputError(
            f"区划代码前缀须为 12 位数字（6 位区 + 3 位街道 + 3 位社区；现为 {prefix!r}） "
            f"code prefix must be 12 digits (6 district + 3 subdistrict + 3 community), "
            f"got {prefix!r}"
        )
    if params.code_overflow not in ("error", "extend"):
        raise InputError(
            "编码溢出方式须为 error 或 extend code_overflow must be 'error' or 'extend'"
        )
    if not 0.0 <= params.elongated_pp < 1.0:
        raise InputError(
            f"狭长标记阈值 elongated_pp 须在 0 到 1 之间（不含 1；现为 {params.elongated_pp!r}） "
            f"elongated_pp must be in [0, 1), got {params.elongated_pp!r}"
        )
    if params.n_directions < 1 or params.cell_sample_spacing_m <= 0:
        raise InputError(
            "划分参数有误：n_directions 须至少为 1，cell_sample_spacing_m 须大于 0 "
            "n_directions must be >= 1 and cell_sample_spacing_m > 0"
        )


def _check_area(area: object) -> None:
    if not isinstance(area, shapely.Geometry):
        raise InputError("区域须为面 the area must be a polygon geometry")
    if area.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(
            f"区域须为面（Polygon 或 MultiPolygon；现为 {area.geom_type}） "
            f"the area must be a Polygon or MultiPolygon, got {area.geom_type}"
        )
    if area.is_empty or area.area <= 0:
        raise InputError("区域为空 the area is empty")
    if not area.is_valid:
        reason = shapely.is_valid_reason(area)
        raise InputError(f"区域的面无效（{reason}） the area polygon is invalid: {reason}")


def _check_households(buildings: gpd.GeoDataFrame, name: Namer) -> None:
    if "households" not in buildings.columns:
        raise InputError("楼栋没有户数属性 buildings have no 'households' property")
    raw = buildings["households"]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        i = bad.idxmax()
        who, who_en = name(i)
        raise InputError(
            f"{who}{_gap(who)}的户数 {raw[i]!r} 不是数字 "
            f"{who_en}: households {raw[i]!r} is not a number"
        )
    if values.isna().any():
        who, who_en = name(values.isna().idxmax())
        raise InputError(f"{who}{_gap(who)}缺少户数 {who_en}: households is missing")
    arr = values.to_numpy(dtype=float)
    if (arr < 0).any():
        i = values.index[int(np.argmax(arr < 0))]
        who, who_en = name(i)
        raise InputError(
            f"{who}{_gap(who)}的户数为负（{values[i]}） "
            f"{who_en}: households is negative ({values[i]})"
        )
    frac = np.abs(arr - np.round(arr)) > 1e-9
    if frac.any() or not np.isfinite(arr).all():
        i = values.index[int(np.argmax(frac | ~np.isfinite(arr)))]
        who, who_en = name(i)
        raise InputError(
            f"{who}{_gap(who)}的户数 {values[i]} 不是整数 "
            f"{who_en}: households {values[i]} is not an integer"
        )
    if (arr > MAX_BUILDING_HOUSEHOLDS).any():
        i = values.index[int(np.argmax(arr > MAX_BUILDING_HOUSEHOLDS))]
        who, who_en = name(i)
        raise InputError(
            f"{who}{_gap(who)}的户数为 {raw[i]}，一栋楼不可能有这么多"
            f"（超过 {MAX_BUILDING_HOUSEHOLDS:,} 户） "
            f"{who_en}: households {raw[i]} is not plausible for one "
            f"building (more than {MAX_BUILDING_HOUSEHOLDS:,})"
        )


_TYPE_IDS = {"LineString": 1, "Polygon": 3, "MultiLineString": 5, "MultiPolygon": 6}
_ZH = {"building": "楼栋", "street": "街巷"}  # what, in the Chinese lead of a message
_TYPE_ZH = {"LineString": "线", "Polygon": "面", "MultiLineString": "多线", "MultiPolygon": "多面"}


def _check_geoms(
    geoms: np.ndarray, index: pd.Index, what: str, kinds: tuple[str, ...], name: Namer | None = None
) -> None:
    """InputError for the first missing, mistyped, empty or invalid geometry; ``name`` names
    the feature (default "{what} {label}", e.g. "街巷 3" / "street 3")."""

    def named(i: Hashable) -> tuple[str, str]:
        return name(i) if name is not None else (f"{_ZH.get(what, what)} {i}", f"{what} {i}")

    missing = shapely.is_missing(geoms)
    if missing.any():
        who, who_en = named(index[int(np.argmax(missing))])
        raise InputError(f"{who}{_gap(who)}缺少几何图形 {who_en}: geometry is missing")
    ok = np.isin(shapely.get_type_id(geoms), [_TYPE_IDS[k] for k in kinds])
    if not ok.all():
        i = int(np.argmax(~ok))
        allowed, got = " or ".join(kinds), geoms[i].geom_type
        allowed_zh = "或".join(f"{_TYPE_ZH[k]}（{k}）" for k in kinds)
        who, who_en = named(index[i])
        raise InputError(
            f"{who}{_gap(who)}的几何类型须为{allowed_zh}（现为 {got}） "
            f"{who_en}: geometry must be {allowed}, got {got}"
        )
    empty = shapely.is_empty(geoms)
    if empty.any():
        who, who_en = named(index[int(np.argmax(empty))])
        raise InputError(f"{who}{_gap(who)}的几何图形为空 {who_en}: geometry is empty")
    valid = shapely.is_valid(geoms)
    if not valid.all():
        i = int(np.argmax(~valid))
        reason = shapely.is_valid_reason(geoms[i])
        who, who_en = named(index[i])
        raise InputError(
            f"{who}{_gap(who)}的几何图形无效（{reason}） {who_en}: invalid geometry ({reason})"
        )


def validate_inputs(
    area: object,
    buildings: object,
    streets: object | None,
    params: PartitionParams,
    name: Namer | None = None,
) -> None:
    """Raise InputError for any input the engine cannot partition honestly.

    ``area`` is a shapely (Multi)Polygon in EPSG:4326; ``buildings`` a GeoDataFrame of
    (Multi)Polygons with an integer ``households`` column; ``streets`` None or a
    GeoDataFrame of (Multi)LineStrings. Buildings must belong to the area (:func:`placement`:
    one straddling its line is taken whole). ``name`` names a building in a message
    (default :func:`building_name`, the index as its id).
    """
    name = name or building_name
    _check_params(params)
    _check_area(area)
    if not isinstance(buildings, gpd.GeoDataFrame):
        raise InputError("楼栋数据格式有误 buildings must be a GeoDataFrame")
    if len(buildings) == 0:
        raise InputError("没有可划分的楼栋 there are no buildings to partition")
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    _check_geoms(geoms, buildings.index, "building", ("Polygon", "MultiPolygon"), name)
    if (shapely.area(geoms) <= 0).any():
        who, who_en = name(buildings.index[int(np.argmax(shapely.area(geoms) <= 0))])
        raise InputError(f"{who}{_gap(who)}轮廓面积为零 {who_en}: footprint has zero area")
    _check_households(buildings, name)
    if streets is not None:
        if not isinstance(streets, gpd.GeoDataFrame):
            raise InputError("街巷数据格式有误 streets must be a GeoDataFrame")
        if len(streets):
            sg = np.asarray(streets.geometry.values, dtype=object)
            _check_geoms(sg, streets.index, "street", ("LineString", "MultiLineString"))
    # Inside-the-area test on WGS 84 coordinates: a share of one footprint's area is the same
    # in degrees² as in m² but for a relative 1e-5 or so (the scale barely varies over it).
    _straddle, out = placement(area, geoms)
    if len(out):
        who, who_en = name(buildings.index[out[0]])
        # WHY (T46 #1): a building overlapping the area is taken whole (see placement); one
        # straddling its line with its inner point outside was refused here (T38 M1)
        raise InputError(
            f"{len(out)} 栋楼在区域外（第一栋：{who}）：请裁剪或删除它们，或扩大区域 "
            f"{len(out)} building(s) lie outside the area (first: {who_en}); "
            "clip or drop them, or widen the area"
        )
    if not math.isfinite(float(np.sum(buildings["households"].astype(float)))):
        raise InputError("户数合计无效 households total is not finite")
