"""Street blocks and building units: the coarse pieces a plan is assembled from.

A street block is a face of the street network polygonized together with the area boundary
(dangling lanes that end inside a compound do not cut it). Grids are unions of whole blocks
wherever the household counts allow, so their boundaries run along streets by construction.

Two repairs make blocks usable for a plan that never splits a building:
* buildings that overlap each other (common in OSM) are fused into one *unit*;
* a unit that straddles a street line (a footway drawn through a building, a building over
  a lane) fuses the blocks it touches into one block.
Faces smaller than ``min_block_area_m2`` with no building (traffic islands, slivers between
carriageways) are fused into the neighbour they share most boundary with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# Overlaps smaller than this (m²) are numerical noise between traced footprints, not overlap.
_OVERLAP_M2 = 0.05
# A unit overlapping a second block by more than this share (or area) spans the street.
_SPAN_SHARE = 0.10
_SPAN_M2 = 25.0


@dataclass
class Units:
    """Buildings fused where they overlap; one unit is never split between grids."""

    geoms: np.ndarray  # unit footprints (metric)
    households: np.ndarray  # int64
    building_unit: np.ndarray  # building position -> unit


@dataclass
class Blocks:
    geoms: np.ndarray  # block polygons (metric), tiling the area
    unit_block: np.ndarray  # unit -> block


def _groups(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find over pairs (a, b) as connected components: label per item."""
    if len(a) == 0:
        return np.arange(n)
    g = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(g, directed=False)[1]


def _dissolve(geoms: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union geometries by label; returns (new geoms, old index -> new index)."""
    uniq, inv = np.unique(labels, return_inverse=True)
    out = np.empty(len(uniq), dtype=object)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
    for k in range(len(uniq)):
        idx = order[bounds[k] : bounds[k + 1]]
        out[k] = geoms[idx[0]] if len(idx) == 1 else shapely.union_all(geoms[idx])
    return out, inv


def building_units(geoms: np.ndarray, households: np.ndarray) -> Units:
    """Fuse overlapping footprints into units (households summed)."""
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a):
        ov = shapely.area(shapely.intersection(geoms[a], geoms[b])) > _OVERLAP_M2
        a, b = a[ov], b[ov]
    labels = _groups(len(geoms), a, b)
    ugeoms, inv = _dissolve(geoms, labels)
    hh = np.bincount(inv, weights=households, minlength=len(ugeoms)).astype(np.int64)
    return Units(geoms=ugeoms, households=hh, building_unit=inv)


def _faces(area: shapely.Geometry, streets: np.ndarray | None) -> np.ndarray:
    parts = [shapely.get_parts(area.boundary)]
    if streets is not None and len(streets):
        shapely.prepare(area)
        clipped = shapely.intersection(streets, area)
        lines = shapely.get_parts(clipped)
        lines = lines[np.isin(shapely.get_type_id(lines), [1, 2])]
        parts.append(lines)
    lines = np.concatenate(parts)
    noded = shapely.union_all(lines)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    if len(faces) == 0:
        return shapely.get_parts(area)
    inside = shapely.covers(area, shapely.point_on_surface(faces))
    faces = faces[inside]
    # Robustness net: whatever the polygonizer missed becomes blocks of its own.
    rest = shapely.difference(area, shapely.coverage_union_all(faces))
    if not rest.is_empty and rest.area > 1e-6 * area.area:
        extra = shapely.get_parts(rest)
        faces = np.concatenate([faces, extra[shapely.area(extra) > 0]])
    return faces


def street_blocks(
    area: shapely.Geometry,
    streets: np.ndarray | None,
    units: Units,
    min_block_area_m2: float,
) -> Blocks:
    """Polygonize streets with the area boundary into blocks; fuse as the module says."""
    faces = _faces(area, streets)
    n = len(faces)
    tree = shapely.STRtree(faces)
    u, f = tree.query(units.geoms, predicate="intersects")
    # Units touching several faces: keep only faces they really overlap, fuse those.
    counts = np.bincount(u, minlength=len(units.geoms))
    multi = counts[u] > 1
    pa: list[np.ndarray] = []
    pb: list[np.ndarray] = []
    unit_face = np.full(len(units.geoms), -1, dtype=np.int64)
    unit_face[u[~multi]] = f[~multi]
    if multi.any():
        um, fm = u[multi], f[multi]
        ov = shapely.area(shapely.intersection(units.geoms[um], faces[fm]))
        real = ov > 1e-9
        um, fm, ov = um[real], fm[real], ov[real]
        order = np.lexsort((-ov, um))
        um, fm, ov = um[order], fm[order], ov[order]
        first = np.r_[True, um[1:] != um[:-1]]
        unit_face[um[first]] = fm[first]
        head = np.repeat(fm[first], np.diff(np.r_[np.flatnonzero(first), len(um)]))
        # A unit that really spans a street fuses the blocks; one that only pokes over a
        # street line (traced a little off) is cut out of the neighbour face instead.
        area_u = shapely.area(units.geoms[um])
        spans = ~first & ((ov > _SPAN_SHARE * area_u) | (ov > _SPAN_M2))
        pa.append(head[spans])
        pb.append(fm[spans])
        poke = ~first & ~spans
        if poke.any():
            faces = faces.copy()
            for face in np.unique(fm[poke]).tolist():
                sel = poke & (fm == face)
                faces[face] = shapely.difference(
                    faces[face], shapely.union_all(units.geoms[um[sel]])
                )
            for face in np.unique(head[poke]).tolist():
                sel = poke & (head == face)
                faces[face] = shapely.union(faces[face], shapely.union_all(units.geoms[um[sel]]))
    # Units never matched (numerically on a street line): nearest face.
    lost = np.flatnonzero(unit_face < 0)
    if len(lost):
        unit_face[lost] = tree.nearest(shapely.point_on_surface(units.geoms[lost]))
    # Tiny empty faces join the neighbour with the longest shared edge.
    has_unit = np.zeros(n, dtype=bool)
    has_unit[unit_face] = True
    tiny = np.flatnonzero((shapely.area(faces) < min_block_area_m2) & ~has_unit)
    if len(tiny):
        t, nb = tree.query(faces[tiny], predicate="intersects")
        t = tiny[t]
        keep = t != nb
        t, nb = t[keep], nb[keep]
        if len(t):
            shared = shapely.length(
                shapely.intersection(shapely.boundary(faces[t]), shapely.boundary(faces[nb]))
            )
            ok = shared > 0
            t, nb, shared = t[ok], nb[ok], shared[ok]
            order = np.lexsort((-shared, t))
            t, nb = t[order], nb[order]
            first = np.r_[True, t[1:] != t[:-1]] if len(t) else np.zeros(0, bool)
            pa.append(t[first])
            pb.append(nb[first])
    a = np.concatenate(pa) if pa else np.zeros(0, np.int64)
    b = np.concatenate(pb) if pb else np.zeros(0, np.int64)
    labels = _groups(n, a, b)
    bgeoms, inv = _dissolve(faces, labels)
    return Blocks(geoms=bgeoms, unit_block=inv[unit_face])
