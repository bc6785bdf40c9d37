"""Grid polygons for a hand-made assignment of buildings to grids (the grid editor).

A planner moves buildings between grids; what gets stored is each grid's area. It is drawn
from the same atoms the engine works on (:mod:`geo.partition.graph`: street blocks, and one
connected cell per building unit where a block is shared), so a hand-edited grid has the
shape an engine grid would have: its boundary runs along the streets where the assignment
allows and through the open ground between buildings where it does not, and the grids tile
the community with no gap. (Before, a draft's grid was the union of its building footprints:
committed, it covered a fifth of the community and the roads and yards belonged to nobody.)

Atoms with no building (a park, a sports ground between streets) go, as one connected
piece, to the grid they share the longest edge with. The editor judges contiguity on the
same atoms (:func:`neighbours`), so it and the stored plan agree on which grids are in
several parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.partition.assemble import grid_polygons, to_wgs84_valid
from geo.partition.graph import AtomGraph, adopt_unheld, build_graph
from geo.partition.params import PartitionParams
from geo.partition.prepare import Prepared, prepare


@dataclass(frozen=True)
class Atoms:
    """A community cut into atoms, with each building's atom."""

    prep: Prepared
    graph: AtomGraph
    building_atom: np.ndarray  # building position -> atom
    empty: np.ndarray  # per atom: no building on it


def atoms(
    area: shapely.Geometry,
    buildings: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame | None,
    min_block_area_m2: float = 200.0,
) -> Atoms:
    """Every block holding two or more building units is cut into unit cells (a threshold
    of -1 households), so any assignment of buildings can be drawn."""
    params = PartitionParams(
        min_households=0,
        max_households=1,
        block_split_households=-1,
        min_block_area_m2=min_block_area_m2,
    )
    lines = streets if streets is not None and len(streets) else None
    prep = prepare(area, buildings, lines, params)
    graph = build_graph(
        prep.blocks, prep.units, -1, params.internal_cut_penalty, params.cell_sample_spacing_m
    )
    building_atom = graph.unit_atom[prep.units.building_unit]
    empty = np.ones(graph.n, dtype=bool)
    empty[building_atom] = False
    return Atoms(prep, graph, building_atom, empty)


def _edges(a: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Graph edges both ways with their shared length in metres (edges out of an atom
    without buildings run between blocks, where the cost is the shared length)."""
    g = a.graph
    return np.r_[g.eu, g.ev], np.r_[g.ev, g.eu], np.r_[g.ecost, g.ecost]


def _empty_pieces(a: Atoms) -> np.ndarray:
    """Per atom: the id of its connected piece of building-less atoms, -1 for the others."""
    g = a.graph
    both = a.empty[g.eu] & a.empty[g.ev]
    m = coo_matrix((np.ones(int(both.sum())), (g.eu[both], g.ev[both])), shape=(g.n, g.n))
    _, comp = connected_components(m, directed=False)
    out = np.full(g.n, -1, dtype=np.int64)
    ids = np.unique(comp[a.empty], return_inverse=True)[1]
    out[a.empty] = ids
    return out


def atom_labels(a: Atoms, building_grid: np.ndarray, n_grids: int) -> np.ndarray:
    """Each atom's grid: its buildings' (most households when a fused unit's buildings were
    put in different grids), and for a piece without buildings the grid it shares the
    longest edge with (the nearest one for a piece touching none)."""
    g = a.graph
    units = a.prep.units
    weight = np.zeros((len(units.households), n_grids))
    bu = units.building_unit
    hh = np.bincount(bu, weights=units.households, minlength=len(units.households))
    share = np.where(hh[bu] > 0, units.households[bu] / np.maximum(hh[bu], 1), 1.0)
    np.add.at(weight, (bu, building_grid), 1.0 + share)  # (a unit is mostly one building)
    labels = np.full(g.n, -1, dtype=np.int64)
    labels[g.unit_atom] = np.argmax(weight, axis=1)
    return adopt_unheld(g, labels)


def grid_areas(a: Atoms, building_grid: np.ndarray, n_grids: int) -> np.ndarray:
    """One EPSG:4326 (Multi)Polygon per grid label 0..n_grids-1, together tiling the area;
    a grid whose atoms do not join comes out as a MultiPolygon."""
    labels = atom_labels(a, building_grid, n_grids)
    polys = grid_polygons(a.prep.blocks, a.prep.units, a.graph, labels, n_grids)
    return to_wgs84_valid(polys, a.prep.to_wgs84)


def neighbours(a: Atoms, ids: np.ndarray) -> tuple[list[list[int]], list[list[list[float]]]]:
    """What the editor needs to judge contiguity as the stored plan will: pairs of building
    ids whose atoms share an edge (or that are fused in one unit), and for every piece of
    building-less ground, the ``[building id, metres of shared edge]`` around it (the editor
    gives the piece to the grid with the most metres, as :func:`atom_labels` does)."""
    g = a.graph
    atom_buildings: dict[int, list[int]] = {}
    for pos, at in enumerate(a.building_atom.tolist()):
        atom_buildings.setdefault(at, []).append(int(ids[pos]))
    pairs: set[tuple[int, int]] = set()
    for members in atom_buildings.values():
        pairs.update(zip(members[:-1], members[1:], strict=True))
    for u, v in zip(g.eu.tolist(), g.ev.tolist(), strict=True):
        if a.empty[u] or a.empty[v]:
            continue
        for x in atom_buildings[u]:
            for y in atom_buildings[v]:
                pairs.add((min(x, y), max(x, y)))
    piece = _empty_pieces(a)
    bridges: dict[int, dict[int, float]] = {}
    u, v, length = _edges(a)
    for x, y, m in zip(u.tolist(), v.tolist(), length.tolist(), strict=True):
        if piece[x] < 0 or a.empty[y]:
            continue
        members = atom_buildings[y]
        around = bridges.setdefault(int(piece[x]), {})
        for b in members:  # an atom's edge shared among its buildings
            around[b] = around.get(b, 0.0) + m / len(members)
    return (
        [[x, y] for x, y in sorted(pairs) if x != y],
        [[[b, round(m, 2)] for b, m in sorted(p.items())] for _, p in sorted(bridges.items())],
    )
