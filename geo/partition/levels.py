"""Nested levels (requirement 9): level 2 inside level-1 grids, level 3 inside buildings.

* Level 2 = a compound (小区: landuse=residential or an imported compound layer) clipped to
  its level-1 grid, or — for a building outside any compound — the building itself.
* Level 3 = the units (单元, stairwell entrances) of a building: the count is given in a
  column, else estimated as ceil(households / households_per_unit); each unit is a slice
  of the footprint across its long axis (entrances line up along the long side of a slab).

Codes extend the parent code: level 2 adds 3 digits (sequence west→east, north→south as
for level 1), level 3 adds 2 digits (along the long axis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.crs import WGS84, metric_crs_for_bounds
from geo.errors import InputError
from geo.partition.codes import sequence_order
from geo.partition.params import PartitionResult


@dataclass(frozen=True)
class LevelParams:
    """households_per_unit: households of one stairwell when the unit count is unknown
    (local practice; 12 ≈ a 6-storey walk-up with 2 flats per landing).
    units_column: building column with a given unit count (used where > 0)."""

    households_per_unit: int = 12
    units_column: str = "units"


def _metric(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, Transformer]:
    crs = metric_crs_for_bounds(frame.to_crs(WGS84).total_bounds)
    back = Transformer.from_crs(crs, WGS84, always_xy=True)
    return np.asarray(frame.to_crs(crs).geometry.values, dtype=object), back


def _to_wgs(geoms: np.ndarray, back: Transformer) -> np.ndarray:
    return shapely.transform(geoms, lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))


def level2_grids(
    result: PartitionResult,
    buildings: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Level-2 grids and the building → level-2 code map.

    Each row: ``code`` (level-1 code + 3 digits), ``parent_code``, ``kind`` ("compound" or
    "building"), ``households``, ``building_count``, geometry (EPSG:4326).
    """
    if "households" not in buildings.columns:
        raise InputError("楼栋没有户数属性 buildings have no 'households' property")
    b = buildings if buildings.crs is not None else buildings.set_crs(WGS84)
    bg, back = _metric(b)
    crs = metric_crs_for_bounds(b.to_crs(WGS84).total_bounds)
    grids_m = np.asarray(result.grids.to_crs(crs).geometry.values, dtype=object)
    code_pos = {c: i for i, c in enumerate(result.grids["code"])}
    parent = result.building_grid.reindex(b.index)
    if parent.isna().any():
        raise InputError("部分楼栋不在一级网格方案中 some buildings are not in the level-1 plan")
    ppos = np.array([code_pos[c] for c in parent])
    comp_of = np.full(len(b), -1)
    cgeoms = np.zeros(0, dtype=object)
    if compounds is not None and len(compounds):
        c = compounds if compounds.crs is not None else compounds.set_crs(WGS84)
        cgeoms = np.asarray(c.to_crs(crs).geometry.values, dtype=object)
        tree = shapely.STRtree(cgeoms)
        bi, ci = tree.query(shapely.point_on_surface(bg), predicate="within")
        order = np.lexsort((shapely.area(cgeoms[ci]), bi))  # smallest compound wins
        bi, ci = bi[order], ci[order]
        first = np.r_[True, bi[1:] != bi[:-1]] if len(bi) else np.zeros(0, bool)
        comp_of[bi[first]] = ci[first]
    key = np.where(comp_of >= 0, comp_of, -1 - np.arange(len(b)))
    pairs = pd.DataFrame({"grid": ppos, "key": key, "hh": b["households"].to_numpy()})
    groups = pairs.groupby(["grid", "key"], sort=True)
    rows, geoms, members = [], [], []
    for (g, k), idx in groups.indices.items():
        own = shapely.union_all(bg[idx])
        if k >= 0:
            geom = shapely.union(shapely.intersection(cgeoms[k], grids_m[g]), own)
            kind = "compound"
        else:
            geom, kind = own, "building"
        rows.append((g, kind, int(pairs["hh"].to_numpy()[idx].sum()), len(idx)))
        geoms.append(geom)
        members.append(idx)
    geoms_arr = np.asarray(geoms, dtype=object)
    codes = np.empty(len(rows), dtype=object)
    grid_ids = np.array([r[0] for r in rows])
    for g in np.unique(grid_ids):
        sel = np.flatnonzero(grid_ids == g)
        order = sequence_order(geoms_arr[sel])
        for seq, j in enumerate(sel[order], start=1):
            codes[j] = f"{result.grids['code'].iloc[g]}{seq:03d}"
    frame = gpd.GeoDataFrame(
        {
            "code": codes,
            "parent_code": [result.grids["code"].iloc[r[0]] for r in rows],
            "kind": [r[1] for r in rows],
            "households": [r[2] for r in rows],
            "building_count": [r[3] for r in rows],
        },
        geometry=_to_wgs(geoms_arr, back),
        crs=WGS84,
    ).sort_values("code", ignore_index=True)
    bmap = np.empty(len(b), dtype=object)
    for j, idx in enumerate(members):
        bmap[idx] = codes[j]
    return frame, pd.Series(bmap, index=b.index, name="level2_code")


def _slices(fp: shapely.Geometry, n: int) -> list[shapely.Geometry]:
    """Cut a footprint into n slices of equal width across its long axis."""
    if n <= 1:
        return [fp]
    rect = shapely.oriented_envelope(fp)
    xy = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = xy[1] - xy[0], xy[2] - xy[1]
    axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    length = float(np.hypot(*axis))
    if length <= 0:
        return [fp] + [shapely.Polygon()] * (n - 1)
    u = axis / length
    v = np.array([-u[1], u[0]])
    proj = (xy - xy[0]) @ u
    lo, hi = proj.min(), proj.max()
    side = (xy - xy[0]) @ v
    s0, s1 = side.min() - 1.0, side.max() + 1.0
    out = []
    for i in range(n):
        a = lo + (hi - lo) * i / n - (1.0 if i == 0 else 0.0)
        b = lo + (hi - lo) * (i + 1) / n + (1.0 if i == n - 1 else 0.0)
        corners = [
            xy[0] + a * u + s0 * v,
            xy[0] + b * u + s0 * v,
            xy[0] + b * u + s1 * v,
            xy[0] + a * u + s1 * v,
        ]
        out.append(shapely.intersection(fp, shapely.Polygon(corners)))
    return out


def level3_units(
    buildings: gpd.GeoDataFrame,
    parent_codes: pd.Series,
    params: LevelParams | None = None,
) -> gpd.GeoDataFrame:
    """Units of each building as slices of its footprint.

    ``parent_codes``: building index → code of its level-2 grid. Rows: ``code`` (parent +
    2 digits), ``parent_code``, ``building`` (index), ``households`` (split evenly, the
    remainder to the first units), ``source`` ("given" / "estimated"), geometry.
    """
    p = params or LevelParams()
    if p.households_per_unit < 1:
        raise InputError("每单元户数须至少为 1 households per unit must be >= 1")
    b = buildings if buildings.crs is not None else buildings.set_crs(WGS84)
    bg, back = _metric(b)
    hh = pd.to_numeric(b["households"]).fillna(0).astype(int).to_numpy()
    given = (
        pd.to_numeric(b[p.units_column], errors="coerce").to_numpy()
        if p.units_column in b.columns
        else np.full(len(b), np.nan)
    )
    rows, geoms = [], []
    for i, idx in enumerate(b.index):
        has = np.isfinite(given[i]) and given[i] > 0
        n = int(given[i]) if has else max(1, math.ceil(hh[i] / p.households_per_unit))
        n = min(n, 99)
        parts = _slices(bg[i], n)
        base, extra = divmod(int(hh[i]), n)
        parent = parent_codes.get(idx)
        for k, part in enumerate(parts):
            rows.append(
                (
                    f"{parent}{k + 1:02d}",
                    parent,
                    idx,
                    base + (k < extra),
                    "given" if has else "estimated",
                )
            )
            geoms.append(part)
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["code", "parent_code", "building", "households", "source"]),
        geometry=_to_wgs(np.asarray(geoms, dtype=object), back),
        crs=WGS84,
    )
