"""Grid polygons from atom labels: whole blocks, and cells inside divided blocks.

Inside a block that hosts several grids, each unit's cell (``tessellate.block_cells``: the
Voronoi diagram of one seed per building unit of that block only, never across a street,
clipped to the block, footprint-corrected, one connected piece) goes to the unit's grid.
The graph adjacency was read from the same cells, so a grid connected in the atom graph is
one polygon (``dissolve`` nodes the pieces where rounding alone would leave them meeting at
a point). Pieces of a grid that still end up disconnected and hold none of its
buildings are handed to the neighbour they share the longest edge with (never to one they
only touch at a corner).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

from geo.partition.blocks import Blocks, Units
from geo.partition.graph import AtomGraph
from geo.partition.prepare import polygon_parts
from geo.partition.tessellate import shared_length

_HOLE_M2 = 1.0
_GRID_M = 1e-6  # metres: snaps away 1e-10 m hairlines, far below any footprint error
_SLIVER_M2 = 0.01  # parts of a grid smaller than this are overlay noise
_MIN_EDGE_M = 0.5  # an orphan piece joins a grid only along an edge longer than this
_SNAP_M = 1e-5  # a vertex this close to a neighbouring piece's edge lies on it (T-junction)


def grid_polygons(
    blocks: Blocks,
    units: Units,
    graph: AtomGraph,
    atom_region: np.ndarray,
    n_regions: int,
) -> np.ndarray:
    """One (Multi)Polygon per region, together tiling the area.

    A block wholly inside one region is taken as is; a block shared by several regions
    contributes the cells of its units (``graph.geoms``), the same polygons the graph
    adjacency was read from.
    """
    unit_region = atom_region[graph.unit_atom]
    nb = len(blocks.geoms)
    atom_block = graph.block
    lo = np.full(nb, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(nb, -1, dtype=np.int64)
    np.minimum.at(lo, atom_block, atom_region)
    np.maximum.at(hi, atom_block, atom_region)
    one = lo == hi  # every atom of the block in one region (also: whole blocks)
    pieces = np.concatenate([blocks.geoms[one], graph.geoms[~one[atom_block]]])
    owner = np.concatenate([lo[one], atom_region[~one[atom_block]]])
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(n_regions + 1))
    out = np.empty(n_regions, dtype=object)
    for r in range(n_regions):
        idx = order[cuts[r] : cuts[r + 1]]
        out[r] = dissolve(pieces[idx])
    out = _single(_polygonal(out))
    out = _reassign_orphans(out, units, unit_region)
    # Back on the micrometre grid: a union without it can leave 1e-10 m wide spikes.
    out = shapely.set_precision(_fill_hairline_holes(out), _GRID_M)
    out = _single(_polygonal(out))
    # the micrometre grid can close an inlet into a hole again (T64 F5): closed here too,
    # so the figures read off these polygons (area, compactness) are of what is delivered
    return _without_hairline_holes(out, out)


def dissolve(pieces: np.ndarray) -> shapely.Geometry:
    """The union of one grid's pieces, in one part wherever the pieces share edges.

    A micrometre grid makes the pieces' shared edges coincide exactly, so the dissolve
    leaves no hairline gaps between pieces cut by different overlays. It is not enough
    where a piece has a vertex on the middle of a neighbour's edge (a T-junction: a cell
    edge meeting a street side that, across the street, is one long edge): the union
    rounds in stages, the rounded vertex can land off the other edge, and the two pieces
    then meet only where the edges start, leaving a wedge a micrometre wide between them —
    a grid connected in the atom graph came out as two parts touching at one point. So
    when the union is in several parts, the pieces are noded first (each one's edges get
    the other pieces' vertices lying on them, ``shapely.snap``) and dissolved again.
    """
    merged = shapely.union_all(pieces, grid_size=_GRID_M)
    if len(pieces) < 2 or shapely.get_num_geometries(merged) < 2:
        return merged
    ref = shapely.multipoints(shapely.get_coordinates(pieces))
    noded = shapely.snap(pieces, ref, _SNAP_M)
    bad = ~shapely.is_valid(noded)
    noded[bad] = shapely.make_valid(noded[bad])
    again = shapely.union_all(noded, grid_size=_GRID_M)
    fewer = shapely.get_num_geometries(again) < shapely.get_num_geometries(merged)
    # Noding moves vertices by micrometres: the area must stay what it was.
    same = abs(shapely.area(again) - shapely.area(merged)) <= 1e-6 * shapely.area(merged) + 1e-3
    return again if fewer and same else merged


def _single(grids: np.ndarray) -> np.ndarray:
    """Drop zero-width sliver parts (overlay noise, never a building) and return one-part
    MultiPolygons as Polygons."""
    out = grids.copy()
    for i in np.flatnonzero(shapely.get_type_id(grids) == 6).tolist():
        parts = shapely.get_parts(grids[i])
        big = parts[shapely.area(parts) >= _SLIVER_M2]
        if len(big) == 0:
            big = parts[[int(np.argmax(shapely.area(parts)))]]
        out[i] = big[0] if len(big) == 1 else shapely.MultiPolygon(big.tolist())
    return out


def _fill_hairline_holes(grids: np.ndarray) -> np.ndarray:
    """Close holes smaller than ``_HOLE_M2``: hairline gaps left where pieces of one grid
    from different overlays meet (a real enclave holds at least a building)."""
    out = grids.copy()
    for i in np.flatnonzero(_max_holes(grids) > 0):
        parts = shapely.get_parts(grids[i])
        fixed = []
        for p in parts:
            holes = [r for r in p.interiors if shapely.Polygon(r).area >= _HOLE_M2]
            fixed.append(shapely.Polygon(p.exterior, holes))
        out[i] = fixed[0] if len(fixed) == 1 else shapely.MultiPolygon(fixed)
    return out


def _max_holes(grids: np.ndarray) -> np.ndarray:
    parts, idx = shapely.get_parts(grids, return_index=True)
    return np.bincount(idx, weights=shapely.get_num_interior_rings(parts), minlength=len(grids))


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop lines/points an overlay may leave in a collection."""
    out = geoms.copy()
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7):
        parts = shapely.get_parts(geoms[i])
        parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
        out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
    return out


def _reassign_orphans(grids: np.ndarray, units: Units, unit_region: np.ndarray) -> np.ndarray:
    """Parts of a grid holding none of its buildings go to the neighbour sharing most edge."""
    multi = np.flatnonzero(shapely.get_num_geometries(grids) > 1)
    if len(multi) == 0:
        return grids
    grids = grids.copy()
    anchor = shapely.point_on_surface(units.geoms)
    for _ in range(3):
        orphans: list[tuple[int, shapely.Geometry]] = []
        for r in multi.tolist():
            parts = shapely.get_parts(grids[r])
            if len(parts) <= 1:
                continue
            mine = anchor[unit_region == r]
            keep = np.zeros(len(parts), dtype=bool)
            if len(mine):
                tree = shapely.STRtree(parts)
                _, pi = tree.query(mine, predicate="intersects")
                keep[pi] = True
            if not keep.any():  # no buildings at all: keep the largest part
                keep[np.argmax(shapely.area(parts))] = True
            for p in parts[~keep]:
                orphans.append((r, p))
            grids[r] = shapely.union_all(parts[keep])
        if not orphans:
            break
        tree = shapely.STRtree(grids)
        for r, p in orphans:
            cand = tree.query(p, predicate="intersects")
            cand = cand[cand != r]
            if len(cand) == 0:
                grids[r] = shapely.union(grids[r], p)
                continue
            shared = np.array([shared_length(p, grids[c]) for c in cand.tolist()])
            if shared.max() <= _MIN_EDGE_M:  # touches only at corners: joining would not
                grids[r] = shapely.union(grids[r], p)  # connect it; keep it (flagged)
                continue
            dst = int(cand[np.argmax(shared)])
            grids[dst] = shapely.union(grids[dst], p, grid_size=_GRID_M)
        multi = np.flatnonzero(shapely.get_num_geometries(grids) > 1)
    return grids


def to_wgs84_valid(polys: np.ndarray, back: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Metric grid polygons in EPSG:4326 (``back`` reprojects), valid there too.

    Rings touching themselves at a point are valid in metres but can cross by 1e-12°
    after reprojection: those few are repaired (linework method: no area is added or lost).
    """
    return to_wgs84_closed(polys, back)[0]


def to_wgs84_closed(
    polys: np.ndarray, back: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`to_wgs84_valid`, and the grids whose hairline holes the repair opened were
    closed (:func:`_without_hairline_holes`): their metric polygons still have the inlet."""
    polys_wgs = back(polys)
    bad = np.flatnonzero(~shapely.is_valid(polys_wgs))
    for i in bad:
        fixed = polygon_parts(shapely.make_valid(polys_wgs[i]))
        parts = shapely.get_parts(fixed)
        if len(parts) > 1:
            # A zero-width spike can come out of the repair as a part of its own: drop
            # parts under 0.01 m² (scaled from degrees², no building is that small).
            m2 = shapely.area(parts) * shapely.area(polys[i]) / max(shapely.area(fixed), 1e-30)
            keep = parts[m2 >= 0.01] if (m2 >= 0.01).any() else parts[[int(np.argmax(m2))]]
            fixed = keep[0] if len(keep) == 1 else shapely.MultiPolygon(keep.tolist())
        polys_wgs[i] = fixed
    out = _without_hairline_holes(polys_wgs, polys)
    return out, np.flatnonzero([a is not b for a, b in zip(out, polys_wgs, strict=True)])


def _without_hairline_holes(grids: np.ndarray, metric: np.ndarray) -> np.ndarray:
    """Holes under ``_HOLE_M2`` that no other grid covers, closed: of the metric grids after
    the micrometre grid, and of ``grids`` in EPSG:4326 after the reprojection (``metric``:
    the same grids in metres, to read their areas in m²).

    WHY (outside tester T64, F5): a ring that nearly touches itself in metres (a narrow
    inlet closing to a micrometre) can cross itself once in degrees, and the repair above
    makes the inlet a hole: database grid 110108015006002 was stored with an interior ring
    of 7.5e-6 m², which GeoJSON's 1e-7° rounding then flattened to a line (the export gave a
    GeometryCollection). Such a hole holds no building (every building lies in a grid, and
    no other grid is there) and the metric grids have none (``_fill_hairline_holes``): it is
    closed, as that rule closes hairline holes in metres."""
    holed = np.flatnonzero(_max_holes(grids) > 0)
    if not len(holed):
        return grids
    out = grids.copy()
    tree = shapely.STRtree(grids)
    for i in holed.tolist():
        # degrees² to m², by the grid's own two areas (1 for metric grids)
        scale = shapely.area(metric[i]) / max(shapely.area(grids[i]), 1e-30)
        fixed, changed = [], False
        for p in shapely.get_parts(grids[i]):
            holes = []
            for ring in p.interiors:
                hole = shapely.Polygon(ring)
                others = tree.query(hole, predicate="intersects")
                others = others[others != i]
                covered = shapely.area(shapely.intersection(hole, grids[others])).sum()
                if hole.area * scale < _HOLE_M2 and covered * scale < 1e-6:
                    changed = True
                else:
                    holes.append(ring)
            fixed.append(shapely.Polygon(p.exterior, holes))
        if changed:
            out[i] = fixed[0] if len(fixed) == 1 else shapely.MultiPolygon(fixed)
    return out
