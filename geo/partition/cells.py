"""Per-building cells: the tessellation a plan is built from, as its own layer.

One cell per building unit (overlapping buildings fused): a block holding one unit is that
unit's cell; a block holding several is divided by the Voronoi diagram of the unit seeds,
clipped to the block, footprint-corrected so each footprint lies wholly in its own cell.
Blocks without buildings are cells without households. The cells tile the area. Used as
the common input for peer regionalisers in the benchmark and for level-2 layers.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from geo.partition.params import PartitionParams
from geo.partition.prepare import prepare
from geo.partition.tessellate import clip as _clip
from geo.partition.tessellate import voronoi_cells as _cells


def building_cells(
    area: shapely.Geometry,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    params: PartitionParams,
    metric: bool = False,
) -> gpd.GeoDataFrame:
    """Cells with ``households``, ``block`` and ``buildings`` (list of building indexes)."""
    prep = prepare(area, buildings, streets, params)
    units, blocks = prep.units, prep.blocks
    seeds = shapely.get_coordinates(shapely.point_on_surface(units.geoms))
    ub = blocks.unit_block
    order = np.argsort(ub, kind="stable")
    cuts = np.searchsorted(ub[order], np.arange(len(blocks.geoms) + 1))
    geoms: list[shapely.Geometry] = []
    hh: list[int] = []
    blk: list[int] = []
    unit_of: list[int] = []
    for b in range(len(blocks.geoms)):
        us = order[cuts[b] : cuts[b + 1]]
        block = blocks.geoms[b]
        if len(us) <= 1:
            geoms.append(block)
            hh.append(int(units.households[us].sum()))
            blk.append(b)
            unit_of.append(int(us[0]) if len(us) else -1)
            continue
        cells = _clip(_cells(block, seeds[us]), block)
        fp = units.geoms[us]
        all_fp = shapely.union_all(fp)
        cells = shapely.union(shapely.difference(cells, all_fp), fp)
        geoms.extend(cells.tolist())
        hh.extend(units.households[us].tolist())
        blk.extend([b] * len(us))
        unit_of.extend(us.tolist())
    unit_buildings: dict[int, list] = {}
    for pos, u in enumerate(units.building_unit.tolist()):
        unit_buildings.setdefault(u, []).append(prep.buildings.index[pos])
    g = np.asarray(geoms, dtype=object)
    frame = gpd.GeoDataFrame(
        {
            "households": np.asarray(hh, dtype=np.int64),
            "block": np.asarray(blk, dtype=np.int64),
            "buildings": [unit_buildings.get(u, []) for u in unit_of],
        },
        geometry=g if metric else prep.to_wgs84(g),
        crs=prep.metric_crs if metric else "EPSG:4326",
    )
    return frame
