"""Shared first steps of every partition run: validate, reproject, units, blocks.

Used by the level-1 engine and by ``cells`` (per-building cells for peers and level 2), so
both see exactly the same blocks and units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.crs import WGS84, metric_crs_for_bounds
from geo.partition.blocks import Blocks, Units, building_units, street_blocks
from geo.partition.params import PartitionParams
from geo.partition.validate import Namer, placement, validate_inputs


@dataclass
class Prepared:
    buildings: gpd.GeoDataFrame  # EPSG:4326, validated
    area_m: shapely.Geometry
    streets_m: np.ndarray | None
    units: Units
    blocks: Blocks
    metric_crs: str
    to_wgs84: Callable[[np.ndarray], np.ndarray]


def to_wgs84_frame(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A frame in EPSG:4326 (a frame without CRS is taken as EPSG:4326)."""
    if gdf.crs is None:
        return gdf.set_crs(WGS84)
    return gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs(WGS84)


def polygon_parts(g: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of an overlay result (drops stray lines and points)."""
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = shapely.get_parts(g)
    parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    return shapely.union_all(parts)


# A separate part of the area narrower than this on average (2 × area / perimeter) is a
# hairline: what is left where two boundaries drawn apart nearly meet, e.g. a community minus
# a grid whose edge runs a millimetre off the community's line (the editor's rebalance; a
# stored draft's vertices are rounded to 1e-7°, about a centimetre). Wider is ground.
_HAIRLINE_M = 0.02


def _without_hairlines(area_m: shapely.Geometry) -> shapely.Geometry:
    """The area without hairline parts. WHY: each made a street block of its own, then a
    grid of 0 buildings whose polygon was empty (the rebalance's 500)."""
    parts = shapely.get_parts(area_m)
    wide = 2 * shapely.area(parts) >= _HAIRLINE_M * shapely.length(parts)
    if wide.all() or not wide.any():
        return area_m
    return shapely.union_all(parts[wide])


def prepare(
    area: shapely.Geometry,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    params: PartitionParams,
    report: Callable[[float, str], None] | None = None,
    name: Namer | None = None,
) -> Prepared:
    """Validate, move to the area's UTM zone, fuse overlapping buildings, build blocks.

    A building straddling the area's line (overlapping the area) is taken whole, the
    area widened by it (:func:`geo.partition.validate.placement`, as database mode's
    outline does); ``name`` names buildings in errors (see ``validate_inputs``)."""
    report = report or (lambda f, m: None)
    report(0.0, "检查输入 checking input")
    if isinstance(buildings, gpd.GeoDataFrame) and len(buildings):
        buildings = to_wgs84_frame(buildings)
    if isinstance(streets, gpd.GeoDataFrame) and len(streets):
        streets = to_wgs84_frame(streets)
    validate_inputs(area, buildings, streets, params, name)
    straddle, _out = placement(area, np.asarray(buildings.geometry.values, dtype=object))
    metric = metric_crs_for_bounds(area.bounds)
    fwd = Transformer.from_crs(WGS84, metric, always_xy=True)
    back = Transformer.from_crs(metric, WGS84, always_xy=True)

    def to_m(g):
        return shapely.transform(g, lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))

    def to_wgs(g):
        return shapely.transform(g, lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))

    area_m = _without_hairlines(polygon_parts(shapely.make_valid(to_m(area))))
    bgeoms = to_m(np.asarray(buildings.geometry.values, dtype=object))
    if len(straddle):  # WHY (T38 M1): refused before, though database mode takes them whole
        area_m = polygon_parts(shapely.make_valid(shapely.union_all([area_m, *bgeoms[straddle]])))
    shapely.prepare(area_m)
    inside = shapely.covers(area_m, bgeoms)
    for i in np.flatnonzero(~inside):
        bgeoms[i] = polygon_parts(shapely.make_valid(shapely.intersection(bgeoms[i], area_m)))
    hh = np.round(pd.to_numeric(buildings["households"]).to_numpy(dtype=float)).astype(np.int64)
    sgeoms = None
    if streets is not None and len(streets):
        sgeoms = to_m(np.asarray(streets.geometry.values, dtype=object))
    report(0.1, "按街巷分块 street blocks")
    units = building_units(bgeoms, hh)
    blocks = street_blocks(area_m, sgeoms, units, params.min_block_area_m2)
    return Prepared(buildings, area_m, sgeoms, units, blocks, metric, to_wgs)
