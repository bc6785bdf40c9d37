"""Input checks: every bad input becomes one InputError that names the problem.

Checked before any geometry work so a planner learns at once what to fix, never from a
traceback deep inside the solver.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from geo.partition.params import PartitionParams

# A building counts as inside the area when at least this share of its footprint is
# (footprints traced on another imagery than the boundary poke out by a few centimetres).
INSIDE_SHARE = 0.99

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


def _check_households(buildings: gpd.GeoDataFrame) -> None:
    if "households" not in buildings.columns:
        raise InputError("楼栋没有户数属性 buildings have no 'households' property")
    raw = buildings["households"]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna()
    if bad.any():
        i = bad.idxmax()
        raise InputError(
            f"楼栋 {i} 的户数 {raw[i]!r} 不是数字 "
            f"building {i}: households {raw[i]!r} is not a number"
        )
    if values.isna().any():
        i = values.isna().idxmax()
        raise InputError(f"楼栋 {i} 缺少户数 building {i}: households is missing")
    arr = values.to_numpy(dtype=float)
    if (arr < 0).any():
        i = values.index[int(np.argmax(arr < 0))]
        raise InputError(
            f"楼栋 {i} 的户数为负（{values[i]}） building {i}: households is negative ({values[i]})"
        )
    frac = np.abs(arr - np.round(arr)) > 1e-9
    if frac.any() or not np.isfinite(arr).all():
        i = values.index[int(np.argmax(frac | ~np.isfinite(arr)))]
        raise InputError(
            f"楼栋 {i} 的户数 {values[i]} 不是整数 "
            f"building {i}: households {values[i]} is not an integer"
        )
    if (arr > MAX_BUILDING_HOUSEHOLDS).any():
        i = values.index[int(np.argmax(arr > MAX_BUILDING_HOUSEHOLDS))]
        raise InputError(
            f"楼栋 {i} 的户数为 {raw[i]}，一栋楼不可能有这么多"
            f"（超过 {MAX_BUILDING_HOUSEHOLDS:,} 户） "
            f"building {i}: households {raw[i]} is not plausible for one "
            f"building (more than {MAX_BUILDING_HOUSEHOLDS:,})"
        )


_TYPE_IDS = {"LineString": 1, "Polygon": 3, "MultiLineString": 5, "MultiPolygon": 6}
_ZH = {"building": "楼栋", "street": "街巷"}  # what, in the Chinese lead of a message
_TYPE_ZH = {"LineString": "线", "Polygon": "面", "MultiLineString": "多线", "MultiPolygon": "多面"}


def _check_geoms(geoms: np.ndarray, index: pd.Index, what: str, kinds: tuple[str, ...]) -> None:
    missing = shapely.is_missing(geoms)
    if missing.any():
        i = index[int(np.argmax(missing))]
        raise InputError(f"{_ZH.get(what, what)} {i} 缺少几何图形 {what} {i}: geometry is missing")
    ok = np.isin(shapely.get_type_id(geoms), [_TYPE_IDS[k] for k in kinds])
    if not ok.all():
        i = int(np.argmax(~ok))
        allowed, got = " or ".join(kinds), geoms[i].geom_type
        allowed_zh = "或".join(f"{_TYPE_ZH[k]}（{k}）" for k in kinds)
        raise InputError(
            f"{_ZH.get(what, what)} {index[i]} 的几何类型须为{allowed_zh}（现为 {got}） "
            f"{what} {index[i]}: geometry must be {allowed}, got {got}"
        )
    empty = shapely.is_empty(geoms)
    if empty.any():
        i = index[int(np.argmax(empty))]
        raise InputError(f"{_ZH.get(what, what)} {i} 的几何图形为空 {what} {i}: geometry is empty")
    valid = shapely.is_valid(geoms)
    if not valid.all():
        i = int(np.argmax(~valid))
        reason = shapely.is_valid_reason(geoms[i])
        raise InputError(
            f"{_ZH.get(what, what)} {index[i]} 的几何图形无效（{reason}） "
            f"{what} {index[i]}: invalid geometry ({reason})"
        )


def validate_inputs(
    area: object,
    buildings: object,
    streets: object | None,
    params: PartitionParams,
) -> None:
    """Raise InputError for any input the engine cannot partition honestly.

    ``area`` is a shapely (Multi)Polygon in EPSG:4326; ``buildings`` a GeoDataFrame of
    (Multi)Polygons with an integer ``households`` column; ``streets`` None or a
    GeoDataFrame of (Multi)LineStrings. Buildings must lie inside the area.
    """
    _check_params(params)
    _check_area(area)
    if not isinstance(buildings, gpd.GeoDataFrame):
        raise InputError("楼栋数据格式有误 buildings must be a GeoDataFrame")
    if len(buildings) == 0:
        raise InputError("没有可划分的楼栋 there are no buildings to partition")
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    _check_geoms(geoms, buildings.index, "building", ("Polygon", "MultiPolygon"))
    if (shapely.area(geoms) <= 0).any():
        i = int(np.argmax(shapely.area(geoms) <= 0))
        raise InputError(
            f"楼栋 {buildings.index[i]} 轮廓面积为零 "
            f"building {buildings.index[i]}: footprint has zero area"
        )
    _check_households(buildings)
    if streets is not None:
        if not isinstance(streets, gpd.GeoDataFrame):
            raise InputError("街巷数据格式有误 streets must be a GeoDataFrame")
        if len(streets):
            sg = np.asarray(streets.geometry.values, dtype=object)
            _check_geoms(sg, streets.index, "street", ("LineString", "MultiLineString"))
    # Inside-the-area test on WGS 84 coordinates: a share of areas is CRS-independent enough
    # at the 1 % level we test (the projection is conformal-ish over a community).
    shapely.prepare(area)
    inside = shapely.covers(area, geoms)
    todo = np.flatnonzero(~inside)
    if len(todo):
        share = shapely.area(shapely.intersection(geoms[todo], area)) / shapely.area(geoms[todo])
        out = todo[share < INSIDE_SHARE]
        if len(out):
            outside = shapely.area(shapely.intersection(geoms[out], area)) <= 0
            kind = "outside the area" if outside.all() else "outside or across the area boundary"
            kind_zh = "在区域外" if outside.all() else "在区域外或跨越区域边界"
            raise InputError(
                f"{len(out)} 栋楼{kind_zh}（第一栋：楼栋 {buildings.index[out[0]]}）："
                "请裁剪或删除它们，或扩大区域 "
                f"{len(out)} building(s) lie {kind} (first: building {buildings.index[out[0]]}); "
                "clip or drop them, or widen the area"
            )
    if not math.isfinite(float(np.sum(buildings["households"].astype(float)))):
        raise InputError("户数合计无效 households total is not finite")
