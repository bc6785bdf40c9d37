"""Grids as a clean coverage on a coordinate grid: what file mode writes.

WHY (outside tester T64, F5): file mode rounded each grid's coordinates to 1e-8° on its own.
Where a vertex of one grid lies on the middle of a neighbour's edge (a T-junction: a cell edge
meeting a street side that, across the street, is one long edge), rounding moves it off that
edge, and the engine's output itself is only edge-matched to a millimetre or so (a straight
edge in metres is not straight in degrees): T64's 4 × 4 subdistrict had 711 overlapping pairs
(up to 0.21 m²) and 810 gap pieces, the 清华园街道 run 0.44 m² of overlap.

How: every grid's boundary is noded and snap-rounded together, as one geometry
(``shapely.union_all(..., grid_size=1e-8)``: GEOS's snap-rounding noder, so every coordinate
lies on the grid and no two edges cross), the linework is polygonized, and each face goes to
the grid it came from. Faces of two grids (their overlaps) and of none but narrower than a
hairline (their gaps) go to the neighbour they share the longest edge with; a wider face of
no grid is a hole of the area and stays one. Each grid is then the coverage union of its
faces, so neighbours share their edges vertex for vertex.

Why not ``shapely.coverage_clean`` (GEOS 3.14, shapely 2.2): it snaps and nodes at full
precision, and its new vertices (edge intersections) are off the grid; rounding them
afterwards, grid by grid, is the step that opened the slivers. Snap-rounding the linework
once gives both the grid and the clean coverage in one step, and needs only GEOS 3.9.
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.crs import WGS84, metric_crs_for_bounds, reproject

#: coordinates written to 1e-8° (about a millimetre), as file mode always wrote them
GRID_DEG = 1e-8
# A face of no grid narrower than this on average (2 × area / perimeter) is a gap left
# between neighbours (overlay and reprojection noise); a wider one is a hole of the area.
# The same hairline as geo.partition.prepare._HAIRLINE_M.
_HAIRLINE_M = 0.02


def clean_coverage(geoms: np.ndarray, grid: float = GRID_DEG) -> np.ndarray:
    """The grids (EPSG:4326 (Multi)Polygons) as a clean coverage with every coordinate on
    ``grid``: no overlaps, no gaps between neighbours, shared edges identical; each grid keeps
    its place to within a grid step (a building stays whole in its grid). A grid whose result
    would be empty or invalid keeps its coordinates rounded as before (never seen)."""
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    if n == 0:
        return geoms.copy()
    lines = shapely.union_all(shapely.boundary(geoms), grid_size=grid)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(lines)))
    owner = _owners(faces, geoms)
    out = np.empty(n, dtype=object)
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(n + 1))
    for r in range(n):
        mine = faces[order[cuts[r] : cuts[r + 1]]]
        g = shapely.coverage_union_all(mine) if len(mine) else shapely.Polygon()
        if g.geom_type == "MultiPolygon" and len(g.geoms) == 1:
            g = g.geoms[0]
        if shapely.is_empty(g) or not shapely.is_valid(g):
            g = _rounded(geoms[r], grid)
        out[r] = g
    return out


def _rounded(g: shapely.Geometry, grid: float) -> shapely.Geometry:
    """One grid rounded on its own (the former way), exact where that is invalid."""
    digits = round(-np.log10(grid))
    r = shapely.transform(g, lambda c: np.round(c, digits))
    return r if shapely.is_valid(r) else g


def _owners(faces: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Each face's grid (-1: a hole of the area). A face inside one grid is that grid's; the
    others (overlaps, gaps) are settled by :func:`_settle`."""
    owner = np.full(len(faces), -1, dtype=np.int64)
    if not len(faces):
        return owner
    tree = shapely.STRtree(geoms)
    fi, gi = tree.query(shapely.point_on_surface(faces), predicate="within")
    hits = np.bincount(fi, minlength=len(faces))
    one = hits[fi] == 1
    owner[fi[one]] = gi[one]
    doubt = np.flatnonzero(hits != 1)
    if not len(doubt):
        return owner
    # a face whose point lies in no grid or in two: by the area each grid holds of it
    fi, gi = tree.query(faces[doubt], predicate="intersects")
    share = shapely.area(shapely.intersection(faces[doubt][fi], geoms[gi]))
    share = share / np.maximum(shapely.area(faces[doubt][fi]), 1e-300)
    holders: dict[int, list[int]] = {f: [] for f in doubt.tolist()}
    for f, g, s in zip(doubt[fi].tolist(), gi.tolist(), share.tolist(), strict=True):
        if s >= 0.5:
            holders[f].append(g)
    narrow = _narrow(faces[doubt])
    return _settle(faces, owner, doubt, holders, narrow)


def _narrow(faces: np.ndarray) -> np.ndarray:
    """Whether each face is narrower than a hairline (mean width, in metres)."""
    if not len(faces):
        return np.zeros(0, dtype=bool)
    m = reproject(faces, WGS84, metric_crs_for_bounds(shapely.total_bounds(faces)))
    width = 2.0 * shapely.area(m) / np.maximum(shapely.length(m), 1e-300)
    return width < _HAIRLINE_M


def _settle(
    faces: np.ndarray,
    owner: np.ndarray,
    doubt: np.ndarray,
    holders: dict[int, list[int]],
    narrow: np.ndarray,
) -> np.ndarray:
    """Faces in doubt: one grid holding most of it takes it; an overlap of several, or a
    hairline gap of none, goes to the grid (of those holding it, if any) whose faces share
    the longest edge with it; a wider face of no grid stays a hole (-1). Faces settled in
    one round may be the neighbours the next round needs, so up to a few rounds."""
    owner = owner.copy()
    todo = {}
    for k, f in enumerate(doubt.tolist()):
        held = holders.get(f, [])
        if len(held) == 1:
            owner[f] = held[0]
        elif held or narrow[k]:
            todo[f] = held
    tree = shapely.STRtree(faces)
    for _ in range(4):
        if not todo:
            break
        done = []
        for f, held in todo.items():
            near = tree.query(faces[f], predicate="touches")
            near = near[(near != f) & (owner[near] >= 0)]
            if held:
                near = near[np.isin(owner[near], held)]
            if not len(near):
                continue
            edge = shapely.length(shapely.intersection(faces[f].boundary, faces[near]))
            totals: dict[int, float] = {}
            for g, e in zip(owner[near].tolist(), edge.tolist(), strict=True):
                totals[g] = totals.get(g, 0.0) + e
            owner[f] = max(sorted(totals), key=lambda g: totals[g])
            done.append(f)
        for f in done:
            del todo[f]
        if not done:
            break
    for f, held in todo.items():  # no settled neighbour: a grid holding it, if any
        if held:
            owner[f] = min(held)
    return owner
