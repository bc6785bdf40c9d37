"""The cells a plan is built from, and their true adjacency.

A block that must be divided is cut into one cell per building unit: the Voronoi diagram
of one seed per unit (a point inside its footprint), clipped to the block, then corrected
so each footprint lies wholly in its own cell. Clipping a convex Voronoi cell to a concave
block (or cutting a footprint out of a thin cell) can leave a cell in several pieces; a
piece that holds none of the unit's footprint is handed to the neighbouring cell of the
block it shares most edge with, so every cell is one connected piece.

Adjacency is then read off the cells themselves (shared edge length), never estimated:
two atoms are graph neighbours exactly when their polygons share an edge, so a region that
is connected in the atom graph is a connected polygon. The length is measured segment
against segment (the stretch over which two boundary segments lie on one line), so two
polygons that touch only at a point share 0 m, however long the segments meeting there.
"""

from __future__ import annotations

import numpy as np
import shapely

_TOUCH_M = 0.01  # a boundary segment this close to another atom's polygon lies on it


def voronoi_cells(block: shapely.Geometry, pts: np.ndarray) -> np.ndarray:
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


def clip(geoms: np.ndarray, block: shapely.Geometry) -> np.ndarray:
    """Clip to the block; a rectangle clip first (cheap), a full overlay only if needed."""
    out = shapely.clip_by_rect(geoms, *block.bounds)
    if shapely.area(block) < shapely.area(shapely.envelope(block)) * (1 - 1e-9):
        out = shapely.intersection(out, block)
    return out


def _areal(g: shapely.Geometry) -> shapely.Geometry:
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = shapely.get_parts(g)
    parts = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def shared_length(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Length of the common edge of two polygons (robust to vertices not coinciding)."""
    _, _, w = _overlaps(*_ring_segments(np.array([a, b], dtype=object)))
    return float(w.sum())


def _segments(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    xy, idx = shapely.get_coordinates(lines, return_index=True)
    if len(xy) < 2:
        return None
    same = idx[1:] == idx[:-1]
    return xy[:-1][same], xy[1:][same], idx[:-1][same]


def _ring_segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundary segments (start, end, index of the polygon they bound) of all polygons."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    segs = _segments(rings)
    if segs is None:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    p, q, ring_id = segs
    owner = part_of[ring_part[ring_id]]
    real = (p != q).any(axis=1)
    return p[real], q[real], owner[real]


def _overlaps(
    p: np.ndarray, q: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owner pairs (a < b) and the length over which a segment of a and one of b lie on one
    line (within ``_TOUCH_M``), one row per such pair of segments.

    WHY segment against segment: attributing a whole segment by its midpoint counted a
    polygon touching another at one point (a corner on a segment's midpoint) as a shared
    edge as long as the segment, and missed edges when the midpoint of a long segment lay
    on a third polygon (a street side shared by several cells across the street)."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(p) < 2:
        return empty
    lo = np.minimum(p, q) - _TOUCH_M
    hi = np.maximum(p, q) + _TOUCH_M
    boxes = shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    i, j = shapely.STRtree(boxes).query(boxes)
    keep = owner[i] < owner[j]
    i, j = i[keep], j[keep]
    d = q - p
    length = np.hypot(d[:, 0], d[:, 1])
    ux, uy = d[:, 0] / length, d[:, 1] / length

    def on_line(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Whether both ends of segment t lie on the line of segment s; their positions
        along s."""
        x0, y0 = p[t, 0] - p[s, 0], p[t, 1] - p[s, 1]
        x1, y1 = x0 + d[t, 0], y0 + d[t, 1]
        near = (np.abs(ux[s] * y0 - uy[s] * x0) <= _TOUCH_M) & (
            np.abs(ux[s] * y1 - uy[s] * x1) <= _TOUCH_M
        )
        return near, ux[s] * x0 + uy[s] * y0, ux[s] * x1 + uy[s] * y1

    # The shorter of two segments on one line lies on the longer's line (the longer one
    # may stray beyond the tolerance from the shorter's line far from it): test both ways.
    near_j, t0, t1 = on_line(i, j)
    near_i, _, _ = on_line(j, i)
    w = np.minimum(np.maximum(t0, t1), length[i]) - np.maximum(np.minimum(t0, t1), 0.0)
    w = np.where(near_i | near_j, np.maximum(w, 0.0), 0.0)
    keep = w > 0
    return owner[i[keep]], owner[j[keep]], w[keep]


def block_cells(block: shapely.Geometry, seeds: np.ndarray, footprints: np.ndarray) -> np.ndarray:
    """One connected cell per unit of a divided block (footprints in their own cell)."""
    cells = clip(voronoi_cells(block, seeds), block)
    fp = shapely.intersection(footprints, block)
    all_fp = shapely.union_all(fp)
    cells = shapely.union(shapely.difference(cells, all_fp), fp)
    cells = np.array([_areal(c) for c in cells], dtype=object)
    return _connect(cells, fp)


def _connect(cells: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Hand pieces of a cell that hold none of its footprint to an edge-sharing neighbour."""
    multi = np.flatnonzero(shapely.get_num_geometries(cells) > 1)
    if len(multi) == 0:
        return cells
    cells = cells.copy()
    loose: list[tuple[int, shapely.Geometry]] = []
    for i in multi.tolist():
        parts = shapely.get_parts(cells[i])
        own = shapely.area(shapely.intersection(parts, fp[i])) > 0
        if not own.any():
            own[np.argmax(shapely.area(parts))] = True
        cells[i] = shapely.union_all(parts[own])
        loose.extend((i, p) for p in parts[~own])
    # Fragments may touch only other fragments at first: repeat while some find a home.
    while loose:
        tree = shapely.STRtree(cells)
        rest: list[tuple[int, shapely.Geometry]] = []
        for i, p in loose:
            cand = tree.query(p, predicate="intersects")
            best, best_len = -1, 0.5
            for c in cand.tolist():
                length = shared_length(p, cells[c])
                if length > best_len:
                    best, best_len = c, length
            if best < 0:
                rest.append((i, p))
            else:
                cells[best] = shapely.union(cells[best], p)
        if len(rest) == len(loose):
            for i, p in rest:  # nowhere to go: stays with its own cell
                cells[i] = shapely.union(cells[i], p)
            break
        loose = rest
    return cells


def adjacency(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (u < v) of polygons sharing an edge, with the shared length in metres.

    The length is the sum, over pairs of boundary segments of u and v that lie on one line
    (within ``_TOUCH_M``), of the stretch they have in common (``_overlaps``).
    """
    n = len(geoms)
    a, b, w = _overlaps(*_ring_segments(geoms))
    if len(w) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    key, inv = np.unique(a * n + b, return_inverse=True)
    return key // n, key % n, np.bincount(inv, weights=w)
