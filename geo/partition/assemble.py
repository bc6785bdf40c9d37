"""Grid polygons from atom labels: whole blocks, and cells inside divided blocks.

Inside a block that hosts several grids, the cell tessellation is the Voronoi diagram of
one seed per building unit of that block only (never across a street), clipped to the
block and dissolved per grid. A large footprint can reach into a neighbour's cell; the
footprint correction (cells minus all footprints, plus the
grid's own footprints) makes "never split a building" exact while keeping the tiling.
Pieces of a grid that end up disconnected and hold none of its buildings (corners of
cells) are handed to the neighbour they share most boundary with.
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.partition.blocks import Blocks, Units
from geo.partition.graph import AtomGraph

_HOLE_M2 = 1.0
_GRID_M = 1e-6  # metres: snaps away 1e-10 m hairlines, far below any footprint error


def _cells(block: shapely.Geometry, pts: np.ndarray) -> np.ndarray:
    """Voronoi cells of ``pts`` in input order, spanning the block's envelope."""
    diagram = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=block, ordered=True)
    cells = shapely.get_parts(diagram)
    if len(cells) == len(pts):
        return cells
    # Degenerate input: match cells to points spatially.
    tree = shapely.STRtree(cells)
    pi, ci = tree.query(shapely.points(pts), predicate="intersects")
    out = np.array([shapely.Polygon()] * len(pts), dtype=object)
    out[pi[::-1]] = cells[ci[::-1]]
    return out


def _clip(geoms: np.ndarray, block: shapely.Geometry) -> np.ndarray:
    """Clip to the block; a rectangle clip first (cheap), a full overlay only if needed."""
    out = shapely.clip_by_rect(geoms, *block.bounds)
    if shapely.area(block) < shapely.area(shapely.envelope(block)) * (1 - 1e-9):
        out = shapely.intersection(out, block)
    return out


def _divided_block(
    block: shapely.Geometry,
    pts: np.ndarray,
    pt_region: np.ndarray,
    unit_geoms: np.ndarray,
    unit_regions: np.ndarray,
) -> tuple[list[shapely.Geometry], list[int]]:
    cells = _cells(block, pts)
    regions = np.unique(unit_regions)
    covers = np.array(
        [shapely.coverage_union_all(cells[pt_region == r]) for r in regions.tolist()],
        dtype=object,
    )
    pieces = _clip(covers, block)
    # Footprint correction, only for units that stick out of their grid's cells.
    slot = np.searchsorted(regions, unit_regions)
    viol = ~shapely.covers(pieces[slot], unit_geoms)
    if viol.any():
        stray = shapely.union_all(unit_geoms[viol])
        for k, r in enumerate(regions.tolist()):
            own = unit_geoms[viol & (unit_regions == r)]
            piece = shapely.difference(pieces[k], stray)
            pieces[k] = shapely.union(piece, shapely.union_all(own)) if len(own) else piece
    return pieces.tolist(), regions.tolist()


def grid_polygons(
    blocks: Blocks,
    units: Units,
    graph: AtomGraph,
    atom_region: np.ndarray,
    n_regions: int,
) -> np.ndarray:
    """One (Multi)Polygon per region, together tiling the area."""
    unit_region = atom_region[graph.unit_atom]
    pieces: list[shapely.Geometry] = []
    owner: list[int] = []
    whole = np.flatnonzero(~graph.exploded)
    pieces.extend(blocks.geoms[whole].tolist())
    owner.extend(atom_region[graph.block_atom[whole]].tolist())

    ub = blocks.unit_block
    ex_blocks = np.flatnonzero(graph.exploded)
    u_order = np.argsort(ub, kind="stable")
    u_cuts = np.searchsorted(ub[u_order], np.arange(len(blocks.geoms) + 1))
    s_block = ub[graph.sample_unit]
    s_order = np.argsort(s_block, kind="stable")
    s_cuts = np.searchsorted(s_block[s_order], np.arange(len(blocks.geoms) + 1))
    for b in ex_blocks.tolist():
        us = u_order[u_cuts[b] : u_cuts[b + 1]]
        regs = unit_region[us]
        if (regs == regs[0]).all():
            pieces.append(blocks.geoms[b])
            owner.append(int(regs[0]))
            continue
        ss = s_order[s_cuts[b] : s_cuts[b + 1]]
        g, lab = _divided_block(
            blocks.geoms[b],
            graph.sample_xy[ss],
            unit_region[graph.sample_unit[ss]],
            units.geoms[us],
            regs,
        )
        pieces.extend(g)
        owner.extend(lab)

    pieces_arr = np.asarray(pieces, dtype=object)
    owner_arr = np.asarray(owner, dtype=np.int64)
    order = np.argsort(owner_arr, kind="stable")
    cuts = np.searchsorted(owner_arr[order], np.arange(n_regions + 1))
    out = np.empty(n_regions, dtype=object)
    for r in range(n_regions):
        idx = order[cuts[r] : cuts[r + 1]]
        # A micrometre grid makes the pieces' shared edges coincide exactly, so the
        # dissolve leaves no hairline gaps between pieces cut by different overlays.
        out[r] = shapely.union_all(pieces_arr[idx], grid_size=_GRID_M)
    out = _polygonal(out)
    out = _reassign_orphans(out, units, unit_region)
    return _fill_hairline_holes(out)


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
            shared = shapely.length(shapely.intersection(shapely.boundary(grids[cand]), p.boundary))
            dst = int(cand[np.argmax(shared)])
            grids[dst] = shapely.union(grids[dst], p)
        multi = np.flatnonzero(shapely.get_num_geometries(grids) > 1)
    return grids
