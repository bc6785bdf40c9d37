"""The atom graph the regionaliser works on.

An *atom* is either a whole street block (when its households are few enough that it never
needs dividing) or one building unit of a block that must be divided. Edges say which atoms
touch and what cutting between them costs:

* block ↔ block: the shared street edge, cost = its length (metres);
* unit ↔ unit inside a block: Voronoi neighbours of the unit seeds (a point inside each
  footprint) — the very cells ``assemble`` builds — cost = shared cell edge length ×
  ``internal_cut_penalty``, so cuts through a block are dearer than cuts along a street;
* unit ↔ atom across a street: the street edge shared by two blocks is sampled and each
  sample is owned by the nearest seed of each side — the same rule the cell tessellation
  uses, so graph adjacency matches the polygons built later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import Delaunay, QhullError, cKDTree

from geo.partition.blocks import Blocks, Units

_MIN_SHARED_M = 0.5  # cells touching on less than this (a corner) are not neighbours
_HULL_EDGE_M = 20.0  # nominal shared length of cells on the block's rim


@dataclass
class AtomGraph:
    households: np.ndarray  # per atom
    area: np.ndarray  # m² an atom stands for
    xy: np.ndarray  # (n, 2) atom positions (metric)
    block: np.ndarray  # atom -> block
    unit_atom: np.ndarray  # unit -> atom
    block_atom: np.ndarray  # block -> atom (-1 for exploded blocks)
    exploded: np.ndarray  # per block: divided into unit atoms
    eu: np.ndarray
    ev: np.ndarray
    ecost: np.ndarray
    estreet: np.ndarray  # edge runs along a street (between blocks)
    sample_xy: np.ndarray  # cell seeds of units in exploded blocks
    sample_unit: np.ndarray

    @property
    def n(self) -> int:
        return len(self.households)


def _block_adjacency(blocks: Blocks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = blocks.geoms
    tree = shapely.STRtree(g)
    a, b = tree.query(g, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.intersection(shapely.boundary(g[a]), shapely.boundary(g[b]))
    length = shapely.length(shared)
    ok = length > _MIN_SHARED_M
    return a[ok], b[ok], shared[ok]


def _blockwise_voronoi_edges(
    xy: np.ndarray,
    units: np.ndarray,
    cuts: np.ndarray,
    block_geoms: np.ndarray,
    block_of: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi neighbours among the units of each block, and their shared edge lengths.

    ``units`` are sorted by block; ``cuts`` delimit the blocks. Qhull runs per block (the
    only loop); circumcentres and dual edge lengths are computed once for all blocks.
    Edges whose dual Voronoi edge is (near) zero — diagonals of co-circular points, cells
    meeting only at a corner — are dropped: they are no real adjacency. Hull edges have
    unbounded duals and get a nominal length.
    """
    tris: list[np.ndarray] = []
    extra: list[np.ndarray] = []
    for k in range(len(cuts) - 1):
        us = units[cuts[k] : cuts[k + 1]]
        n = len(us)
        if n < 2:
            continue
        if n == 2:
            extra.append(us[None, :])
            continue
        pts = xy[us]
        try:
            tris.append(us[Delaunay(pts).simplices])
        except (QhullError, ValueError):
            # Collinear or coincident points: chain them along their main axis.
            c = pts - pts.mean(axis=0)
            axis = np.linalg.svd(c, full_matrices=False)[2][0]
            o = np.argsort(c @ axis, kind="stable")
            extra.append(np.column_stack([us[o[:-1]], us[o[1:]]]))
    pairs = [np.zeros((0, 2), dtype=np.int64)]
    lengths = [np.zeros(0)]
    if extra:
        e = np.concatenate(extra)
        pairs.append(e)
        lengths.append(np.full(len(e), _HULL_EDGE_M))
    if tris:
        s = np.concatenate(tris)
        a, b, c = xy[s[:, 0]], xy[s[:, 1]], xy[s[:, 2]]
        c0 = (a + b + c) / 3.0  # centre first: circumcentre formula is then well-conditioned
        a, b, c = a - c0, b - c0, c - c0
        d = 2.0 * (
            a[:, 0] * (b[:, 1] - c[:, 1])
            + b[:, 0] * (c[:, 1] - a[:, 1])
            + c[:, 0] * (a[:, 1] - b[:, 1])
        )
        d = np.where(np.abs(d) < 1e-12, 1e-12, d)
        sa, sb, sc = (a**2).sum(1), (b**2).sum(1), (c**2).sum(1)
        cc = c0 + np.column_stack(
            [
                (sa * (b[:, 1] - c[:, 1]) + sb * (c[:, 1] - a[:, 1]) + sc * (a[:, 1] - b[:, 1]))
                / d,
                (sa * (c[:, 0] - b[:, 0]) + sb * (a[:, 0] - c[:, 0]) + sc * (b[:, 0] - a[:, 0]))
                / d,
            ]
        )
        e = np.concatenate([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
        e.sort(axis=1)
        tri_of = np.tile(np.arange(len(s)), 3)
        m = int(xy.shape[0])
        key = e[:, 0] * m + e[:, 1]
        order = np.argsort(key, kind="stable")
        key, tri_of = key[order], tri_of[order]
        uniq, start, count = np.unique(key, return_index=True, return_counts=True)
        length = np.full(len(uniq), _HULL_EDGE_M)
        two = count == 2
        t1, t2 = tri_of[start[two]], tri_of[start[two] + 1]
        length[two] = np.hypot(*(cc[t1] - cc[t2]).T)
        # The dual edge must reach into the block (concave blocks clip some away).
        ca, cb = cc[tri_of[start]], cc[tri_of[start + count - 1]]
        mid = (ca + cb) / 2.0
        bgeom = block_geoms[block_of[uniq // m]]
        inside = (
            shapely.contains_xy(bgeom, ca[:, 0], ca[:, 1])
            | shapely.contains_xy(bgeom, cb[:, 0], cb[:, 1])
            | shapely.contains_xy(bgeom, mid[:, 0], mid[:, 1])
        )
        keep = (length > _MIN_SHARED_M) & inside
        pairs.append(np.column_stack([uniq // m, uniq % m])[keep])
        lengths.append(length[keep])
    return np.concatenate(pairs), np.concatenate(lengths)


def build_graph(
    blocks: Blocks,
    units: Units,
    split_threshold: int,
    internal_cut_penalty: float,
    sample_spacing: float,
) -> AtomGraph:
    nb = len(blocks.geoms)
    ub = blocks.unit_block
    block_hh = np.bincount(ub, weights=units.households, minlength=nb)
    block_nu = np.bincount(ub, minlength=nb)
    exploded = (block_hh > split_threshold) & (block_nu >= 2)

    # Atoms: whole blocks first, then the units of exploded blocks.
    whole = np.flatnonzero(~exploded)
    block_atom = np.full(nb, -1, dtype=np.int64)
    block_atom[whole] = np.arange(len(whole))
    ex_units = np.flatnonzero(exploded[ub])
    unit_atom = np.empty(len(ub), dtype=np.int64)
    unit_atom[ex_units] = len(whole) + np.arange(len(ex_units))
    in_whole = ~exploded[ub]
    unit_atom[in_whole] = block_atom[ub[in_whole]]

    n = len(whole) + len(ex_units)
    hh = np.zeros(n, dtype=np.int64)
    hh[: len(whole)] = block_hh[whole].round().astype(np.int64)
    hh[len(whole) :] = units.households[ex_units]
    xy = np.empty((n, 2))
    xy[: len(whole)] = shapely.get_coordinates(shapely.centroid(blocks.geoms[whole]))
    unit_xy = shapely.get_coordinates(shapely.point_on_surface(units.geoms))
    xy[len(whole) :] = unit_xy[ex_units]
    atom_block = np.concatenate([whole, ub[ex_units]])
    # Area an atom stands for (a divided block's area shared evenly by its units): the
    # weight of its position when region centroids are computed.
    block_area = shapely.area(blocks.geoms)
    atom_area = block_area[atom_block] / np.maximum(block_nu[atom_block], 1)
    atom_area[: len(whole)] = block_area[whole]

    eu: list[np.ndarray] = []
    ev: list[np.ndarray] = []
    ec: list[np.ndarray] = []
    es: list[np.ndarray] = []

    # Unit ↔ unit inside exploded blocks (Voronoi neighbours per block, so no edge ever
    # crosses a street).
    order = np.argsort(ub[ex_units], kind="stable")
    sorted_units = ex_units[order]
    sorted_blocks = ub[sorted_units]
    cuts = np.flatnonzero(np.r_[True, sorted_blocks[1:] != sorted_blocks[:-1], True])
    pairs, lengths = _blockwise_voronoi_edges(unit_xy, sorted_units, cuts, blocks.geoms, ub)
    eu.append(unit_atom[pairs[:, 0]])
    ev.append(unit_atom[pairs[:, 1]])
    ec.append(np.minimum(lengths, 60.0) * internal_cut_penalty)
    es.append(np.zeros(len(pairs), dtype=bool))

    # Cell seeds of exploded units: one point inside each footprint. A Voronoi of seeds
    # (not of outline samples) keeps the tessellation O(units); the footprint correction
    # in ``assemble`` restores exact building containment.
    sxy, su = unit_xy[ex_units], ex_units
    sb = ub[su]

    # Block ↔ block edges; sides that are exploded resolve to the owning unit.
    a, b, shared = _block_adjacency(blocks)
    both_whole = ~exploded[a] & ~exploded[b]
    if both_whole.any():
        eu.append(block_atom[a[both_whole]])
        ev.append(block_atom[b[both_whole]])
        ec.append(shapely.length(shared[both_whole]))
        es.append(np.ones(int(both_whole.sum()), dtype=bool))
    mixed = np.flatnonzero(~both_whole)
    if len(mixed):
        ln = shapely.length(shared[mixed])
        m = np.maximum(1, np.ceil(ln / sample_spacing)).astype(np.int64)
        rep = np.repeat(np.arange(len(mixed)), m)
        start = np.repeat(np.cumsum(m) - m, m)
        frac = (np.arange(len(rep)) - start + 0.5) / m[rep]
        pts = shapely.get_coordinates(
            shapely.line_interpolate_point(shared[mixed][rep], frac, normalized=True)
        )
        step = (ln / m)[rep]
        big = 10.0 * (np.ptp(sxy, axis=0).max() + np.ptp(pts, axis=0).max() + 1.0)
        tree = cKDTree(np.column_stack([sxy, sb * big]))
        ends = []
        for side in (a[mixed][rep], b[mixed][rep]):
            owner = block_atom[side].copy()
            ex = exploded[side]
            if ex.any():
                q = np.column_stack([pts[ex], side[ex] * big])
                _, j = tree.query(q)
                owner[ex] = unit_atom[su[j]]
            ends.append(owner)
        oa, ob = ends
        lo, hi = np.minimum(oa, ob), np.maximum(oa, ob)
        pair = lo * n + hi
        upair, inv = np.unique(pair, return_inverse=True)
        w = np.bincount(inv, weights=step)
        eu.append(upair // n)
        ev.append(upair % n)
        ec.append(w)
        es.append(np.ones(len(upair), dtype=bool))

    cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dtype=dt)  # noqa: E731
    u_, v_, c_, s_ = cat(eu, np.int64), cat(ev, np.int64), cat(ec, float), cat(es, bool)
    keep = u_ != v_
    u_, v_, c_, s_ = u_[keep], v_[keep], c_[keep], s_[keep]
    # Merge parallel edges (sum costs).
    lo, hi = np.minimum(u_, v_), np.maximum(u_, v_)
    upair, inv = np.unique(lo * n + hi, return_inverse=True)
    cost = np.bincount(inv, weights=c_)
    street = np.bincount(inv, weights=s_.astype(float)) > 0
    return AtomGraph(
        households=hh,
        area=atom_area,
        xy=xy,
        block=atom_block,
        unit_atom=unit_atom,
        block_atom=block_atom,
        exploded=exploded,
        eu=upair // n,
        ev=upair % n,
        ecost=cost,
        estreet=street,
        sample_xy=sxy,
        sample_unit=su,
    )
