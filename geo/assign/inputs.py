"""Validation shared by the assignment functions: ids, geometries, homes.

Every problem becomes an InputError naming what is wrong, before any solving starts, so a bad
file never produces a partial result.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.assign.people import bad_homes, swapped
from geo.crs import WGS84
from geo.errors import InputError


def _show(values: list, n: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:n])
    return shown + (f" … (+{len(values) - n} more)" if len(values) > n else "")


def _show_zh(values: list, n: int = 5) -> str:
    """:func:`_show` in Chinese: a, b … 等 7 个."""
    shown = "、".join(str(v) for v in values[:n])
    return shown + (f" 等 {len(values)} 个" if len(values) > n else "")


# the Chinese word for a layer's items in a message ("streets" → 街)
_ZH = {"streets": "街", "alleys": "巷"}


def check_lines(gdf: gpd.GeoDataFrame, id_col: str, what: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326 with a unique, non-null ``id_col`` and (Multi)LineStrings."""
    what_zh = _ZH.get(what, what)
    if gdf is None or len(gdf) == 0:
        raise InputError(
            f"没有给出{what_zh}：{what_zh}图层为空 no {what} given: the {what} layer is empty"
        )
    if id_col not in gdf.columns:
        cols = ", ".join(map(str, gdf.columns))
        raise InputError(
            f"{what_zh}图层缺少 {id_col} 列（现有列：{cols}），请添加 "
            f"the {what} layer has no '{id_col}' column (columns: {cols})"
        )
    ids = gdf[id_col]
    if ids.isna().any():
        n = int(ids.isna().sum())
        raise InputError(f"有 {n} 条{what_zh}缺少 {id_col}，请补上 {n} {what} have no {id_col}")
    dup = ids[ids.duplicated()].astype(str).unique().tolist()
    if dup:
        shown_zh, shown = _show_zh(dup), _show(dup)
        raise InputError(
            f"{what_zh}的 {id_col} 重复（{shown_zh}），请改正 "
            f"duplicate {id_col} in the {what}: {shown}"
        )
    geoms = gdf.geometry.values
    if (shapely.is_missing(geoms) | shapely.is_empty(geoms)).any():
        bad = ids[shapely.is_missing(geoms) | shapely.is_empty(geoms)].astype(str).tolist()
        shown_zh, shown = _show_zh(bad), _show(bad)
        raise InputError(f"有{what_zh}没有几何图形（{shown_zh}） {what} without geometry: {shown}")
    kinds = shapely.get_type_id(geoms)
    bad_kind = ~np.isin(kinds, [1, 5])  # LineString, MultiLineString
    if bad_kind.any():
        bad = ids[bad_kind].astype(str).tolist()
        shown_zh, shown = _show_zh(bad), _show(bad)
        raise InputError(
            f"{what_zh}须为线（LineString 或 MultiLineString），{shown_zh} 不是线 "
            f"{what} must be LineString or MultiLineString; not so: {shown}"
        )
    out = gdf if gdf.crs is not None else gdf.set_crs(WGS84)
    out = out.to_crs(WGS84) if out.crs.to_epsg() != 4326 else out
    b = out.total_bounds
    if not (np.all(np.isfinite(b)) and -180 <= b[0] <= b[2] <= 180 and -90 <= b[1] <= b[3] <= 90):
        raise InputError(
            f"{what_zh}的坐标不是有效经纬度，请检查坐标系（--crs） "
            f"the {what} coordinates are not valid longitudes/latitudes"
        )
    return out


def check_people(people: pd.DataFrame, need_home: bool = True) -> pd.DataFrame:
    """People need a unique ``person_id`` and finite WGS 84 ``lon``/``lat`` homes."""
    if people is None or len(people) == 0:
        raise InputError("没有人员：人员表为空 no people given: the people table is empty")
    cols = ["person_id", "lon", "lat"] if need_home else ["person_id"]
    missing = [c for c in cols if c not in people.columns]
    if missing:
        shown = ", ".join(missing)
        raise InputError(
            f"人员表缺少列（{shown}），请添加 the people table lacks column(s): {shown}"
        )
    ids = people["person_id"]
    if ids.isna().any():
        n = int(ids.isna().sum())
        raise InputError(f"有 {n} 人缺少人员编号（person_id），请补上 {n} people have no person_id")
    dup = ids[ids.duplicated()].astype(str).unique().tolist()
    if dup:
        shown_zh, shown = _show_zh(dup), _show(dup)
        raise InputError(
            f"人员编号重复（{shown_zh}），请改正 duplicate person_id in the people: {shown}"
        )
    if need_home:
        lon = pd.to_numeric(people["lon"], errors="coerce")
        lat = pd.to_numeric(people["lat"], errors="coerce")
        bad = ~(np.isfinite(lon) & np.isfinite(lat) & lon.between(-180, 180) & lat.between(-90, 90))
        if bad.any():
            what_zh, what = bad_homes(
                people, bad, bad & swapped(lon, lat), lon.notna() | lat.notna()
            )
            raise InputError(
                f"人员住址坐标缺失或有误：{what_zh} "
                f"people with missing or invalid home coordinates: {what}"
            )
        people = people.assign(lon=lon.astype(float), lat=lat.astype(float))
    return people.reset_index(drop=True)


def show_ids(values: list, n: int = 5) -> str:
    """A short list of ids for a message."""
    return _show(values, n)


def held_column(people: pd.DataFrame, col: str) -> np.ndarray:
    """Per person, what they hold outside this problem (``held_count`` items, ``held_m``
    metres): 0 where the optional column is absent or empty. WHY a column: the people of an
    area include neighbours staffed in the next community, and only the caller (the database)
    knows their duties there; the solver stays pure and file mode passes no such column."""
    if col not in people.columns:
        return np.zeros(len(people))
    held = pd.to_numeric(people[col], errors="coerce").fillna(0).to_numpy(float)
    return np.maximum(held, 0)


def count_room(people: pd.DataFrame, cap: int) -> np.ndarray:
    """Per person, how many items they may take here: the policy ``cap``, lowered by their
    own ``capacity`` (0: none at all) and by the items they hold elsewhere (``held_count``),
    at least 0. Alley stewards and street chiefs alike."""
    room = np.full(len(people), cap, dtype=np.int64)
    if "capacity" in people.columns:
        own = pd.to_numeric(people["capacity"], errors="coerce").to_numpy(float)
        has = np.isfinite(own)
        room[has] = np.minimum(room[has], np.maximum(own[has], 0).astype(np.int64))
    return np.maximum(room - held_column(people, "held_count").astype(np.int64), 0)
