"""The atom graph the regionaliser works on.

An *atom* is either a whole street block (when its households are few enough that it never
needs dividing) or one building unit of a block that must be divided. Each atom has a
polygon — the block itself, or the unit's cell (``tessellate.block_cells``: Voronoi of the
unit seeds inside the block, footprint-corrected, one connected piece) — and the polygons
tile the area. Edges join atoms whose polygons share an edge longer than ``_MIN_SHARED_M``
(read off the polygons, so graph connectivity is polygon connectivity; the editor's atoms,
``given.atoms``, keep every shared edge):

* between blocks (along a street or lane): cost = shared length (metres);
* between two units of one block: cost = min(shared length, 60 m) × ``internal_cut_penalty``,
  so cuts through a block are dearer than cuts along a street.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.partition.blocks import Blocks, Units
from geo.partition.tessellate import adjacency, block_cells

_MIN_SHARED_M = 0.5  # cells touching on less than this (a corner) are not neighbours


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
    geoms: np.ndarray  # per atom: its polygon (a whole block, or a unit's cell)

    @property
    def n(self) -> int:
        return len(self.households)


def build_graph(
    blocks: Blocks,
    units: Units,
    split_threshold: int,
    internal_cut_penalty: float,
    sample_spacing: float,
    min_shared_m: float = _MIN_SHARED_M,
) -> AtomGraph:
    """The atoms and their edges; ``min_shared_m``: the shortest shared edge that makes two
    atoms neighbours (the editor's drawing keeps every edge, see ``given.atoms``)."""
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

    # Atom polygons: whole blocks, and one connected cell per unit of a divided block.
    # Edges are read off these very polygons (the ones ``assemble`` dissolves), so graph
    # adjacency is geometric adjacency: a connected region is a connected grid.
    geoms = np.empty(n, dtype=object)
    geoms[: len(whole)] = blocks.geoms[whole]
    order = np.argsort(ub[ex_units], kind="stable")
    sorted_units = ex_units[order]
    sorted_blocks = ub[sorted_units]
    cuts = np.flatnonzero(np.r_[True, sorted_blocks[1:] != sorted_blocks[:-1], True])
    for k in range(len(cuts) - 1):
        us = sorted_units[cuts[k] : cuts[k + 1]]
        if len(us) == 0:
            continue
        b = int(ub[us[0]])
        geoms[unit_atom[us]] = block_cells(blocks.geoms[b], unit_xy[us], units.geoms[us])
    u_, v_, shared = adjacency(geoms)
    keep = shared > min_shared_m
    u_, v_, shared = u_[keep], v_[keep], shared[keep]
    s_ = atom_block[u_] != atom_block[v_]  # between blocks: along a street or lane
    # Cuts between two units of one block cost more per metre than cuts along a street.
    c_ = np.where(s_, shared, np.minimum(shared, 60.0) * internal_cut_penalty)

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
        geoms=geoms,
    )


def adopt_unheld(graph: AtomGraph, labels: np.ndarray) -> np.ndarray:
    """``labels`` with every atom labelled -1 given a label: each connected piece of such
    atoms goes to the label it shares the longest edge with, a piece touching none to the
    label of the nearest labelled atom.

    WHY: ground without buildings (a park, a sports ground, a sliver left where two
    boundaries nearly meet) is never a grid of its own, nobody there to staff; it still
    belongs to a grid, so the grids tile the area. Used by the engine for regions holding
    no building, and by the editor's drawing for ground that reaches no building (the rest
    it gives out atom by atom, :func:`geo.partition.given.give_ground`)."""
    labels = labels.copy()
    todo = labels < 0
    if not todo.any() or todo.all():
        return labels
    both = todo[graph.eu] & todo[graph.ev]
    m = coo_matrix(
        (np.ones(int(both.sum())), (graph.eu[both], graph.ev[both])), shape=(graph.n, graph.n)
    )
    _, comp = connected_components(m, directed=False)
    piece = np.full(graph.n, -1, dtype=np.int64)
    piece[todo] = np.unique(comp[todo], return_inverse=True)[1]
    n_pieces = int(piece.max()) + 1
    u, v = np.r_[graph.eu, graph.ev], np.r_[graph.ev, graph.eu]
    length = np.r_[graph.ecost, graph.ecost]
    out = (piece[u] >= 0) & (labels[v] >= 0)
    n_labels = int(labels.max()) + 1
    border = np.zeros((n_pieces, n_labels))
    np.add.at(border, (piece[u[out]], labels[v[out]]), length[out])
    win = np.argmax(border, axis=1)
    held = np.flatnonzero(~todo)
    for p in np.flatnonzero(border.max(axis=1) <= 0).tolist():
        at = np.flatnonzero(piece == p)
        d = shapely.distance(shapely.union_all(graph.geoms[at]), graph.geoms[held])
        win[p] = labels[held[int(np.argmin(d))]]
    labels[todo] = win[piece[todo]]
    return labels
