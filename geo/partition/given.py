"""Grid polygons for a hand-made assignment of buildings to grids (the grid editor).

A planner moves buildings between grids; what gets stored is each grid's area. It is drawn
from the same atoms the engine works on (:mod:`geo.partition.graph`: street blocks, and one
connected cell per building unit where a block is shared), so a hand-edited grid has the
shape an engine grid would have: its boundary runs along the streets where the assignment
allows and through the open ground between buildings where it does not, and the grids tile
the community with no gap. (Before, a draft's grid was the union of its building footprints:
committed, it covered a fifth of the community and the roads and yards belonged to nobody.)

Atoms with no building (a park, a yard, the strips between the two sides of a road) are
given out one by one (:func:`give_ground`), each to a neighbouring grid, but never so that
it joins two parts of a grid that are not within ``GAP_M`` of each other: ground nobody
lives on does not make a grid contiguous. WHY: the building-less atoms of a community are
often one network (the strips between parallel street lines run through all of it); given
out as one piece to the grid with the longest edge on it, the network joined any two
buildings of that grid, so a grid of five buildings at one corner and one 700 m away passed
the contiguity check as one snake-shaped polygon along the whole southern edge (tester,
demo community 110108015004). A courtyard or a road verge between two blocks of one grid
still joins them (they are within ``GAP_M``), and ground that one grid alone encloses goes
to it whatever the gap (there is no other grid to give it to).

The editor's live check is to give ground out the same way from :func:`ground`'s data, so it
and the stored plan agree on which grids are in several parts; until it does, it reads
:func:`neighbours`' pairs of buildings ground may join. The atoms keep every shared edge,
also those under the engine's 0.5 m (``graph.build_graph``'s ``min_shared_m``): the drawn
polygons join along them, and a grid joined by a 0.2 m edge was one polygon in the stored
plan and two parts on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.partition.assemble import grid_polygons, to_wgs84_valid
from geo.partition.graph import AtomGraph, adopt_unheld, build_graph
from geo.partition.params import PartitionParams
from geo.partition.prepare import Prepared, prepare

# Two parts of a grid this close (metres, polygon to polygon) may be joined by ground between
# them: a road with its verges (25 m between demo blocks 5 and 104), a lane, a small court.
GAP_M = 30.0


@dataclass(frozen=True)
class Ground:
    """The building-less atoms in the order they are given out, and what each one touches.

    ``order``: the atoms nearest a building first (hops over building-less atoms, then atom
    id); atoms that reach no building are left out (they go to the nearest grid, see
    :func:`give_ground`). ``touch[k]``: the building atoms ``order[k]`` shares an edge with,
    ``(atom, metres)`` by atom id; ``beside[k]``: the building-less ones, ``(position in
    order, metres)`` by position. ``near``: pairs of building atoms that share no edge but
    are within ``GAP_M``. Metres are rounded to centimetres, so the editor's sums of the same
    numbers in the same order are the same to the bit."""

    order: np.ndarray
    touch: list[list[tuple[int, float]]]
    beside: list[list[tuple[int, float]]]
    near: np.ndarray  # (k, 2) atom ids


@dataclass(frozen=True)
class Atoms:
    """A community cut into atoms, with each building's atom."""

    prep: Prepared
    graph: AtomGraph
    building_atom: np.ndarray  # building position -> atom
    empty: np.ndarray  # per atom: no building on it
    ground: Ground


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
        prep.blocks,
        prep.units,
        -1,
        params.internal_cut_penalty,
        params.cell_sample_spacing_m,
        min_shared_m=0.0,
    )
    building_atom = graph.unit_atom[prep.units.building_unit]
    empty = np.ones(graph.n, dtype=bool)
    empty[building_atom] = False
    return Atoms(prep, graph, building_atom, empty, _ground(graph, empty))


def _ground(g: AtomGraph, empty: np.ndarray) -> Ground:
    """The static part of giving out ground (it depends on the atoms, not on the plan)."""
    # Hops from a building over building-less atoms (breadth first from those beside one).
    ground_nb: list[list[int]] = [[] for _ in range(g.n)]
    for x, y in zip(g.eu.tolist(), g.ev.tolist(), strict=True):
        if empty[x] and empty[y]:
            ground_nb[x].append(y)
            ground_nb[y].append(x)
    hops = np.full(g.n, -1, dtype=np.int64)
    ring = sorted(
        {
            int(x)
            for x, y in zip(np.r_[g.eu, g.ev], np.r_[g.ev, g.eu], strict=True)
            if empty[x] and not empty[y]
        }
    )
    step = 1
    while ring:
        hops[ring] = step
        ring = sorted({y for x in ring for y in ground_nb[x] if hops[y] < 0})
        step += 1
    reached = np.flatnonzero(hops > 0)
    order = reached[np.lexsort((reached, hops[reached]))]
    position = np.full(g.n, -1, dtype=np.int64)
    position[order] = np.arange(len(order))
    touch: list[list[tuple[int, float]]] = [[] for _ in order]
    beside: list[list[tuple[int, float]]] = [[] for _ in order]
    u, v = np.r_[g.eu, g.ev], np.r_[g.ev, g.eu]
    metres = np.round(np.r_[g.ecost, g.ecost], 2)
    for k in np.lexsort((v, u)).tolist():
        x, y = int(u[k]), int(v[k])
        if position[x] < 0:
            continue
        if not empty[y]:
            touch[position[x]].append((y, float(metres[k])))
        elif position[y] >= 0:
            beside[position[x]].append((int(position[y]), float(metres[k])))
    for k in range(len(order)):
        beside[k].sort()
    return Ground(order, touch, beside, _near(g, empty))


def _near(g: AtomGraph, empty: np.ndarray) -> np.ndarray:
    """Pairs of building atoms beside ground, sharing no edge, within ``GAP_M``."""
    side = np.zeros(g.n, dtype=bool)
    edge_to_ground = empty[g.eu] != empty[g.ev]
    side[g.eu[edge_to_ground]] = True
    side[g.ev[edge_to_ground]] = True
    side &= ~empty
    at = np.flatnonzero(side)
    if len(at) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    tree = shapely.STRtree(g.geoms[at])
    i, j = tree.query(g.geoms[at], predicate="dwithin", distance=GAP_M)
    keep = i < j
    pairs = np.column_stack([at[i[keep]], at[j[keep]]])
    linked = {(int(x), int(y)) for x, y in zip(g.eu.tolist(), g.ev.tolist(), strict=True)}
    out = [(x, y) for x, y in pairs.tolist() if (min(x, y), max(x, y)) not in linked]
    return np.array(sorted(out), dtype=np.int64).reshape(-1, 2)


class _UnionFind:
    """Atoms in sets: the groups ground may join, and the parts it has joined."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        self.parent[self.find(x)] = self.find(y)


def give_ground(a: Atoms, labels: np.ndarray) -> np.ndarray:
    """``labels`` (a grid per building atom, -1 for the others) with every building-less
    atom given a grid.

    In ``ground.order``, an atom goes to a neighbouring grid it joins nothing of, or only
    parts of one *group* (parts that touch or are ``GAP_M`` close: :attr:`Ground.near`);
    first to a grid whose parts it joins, then to the one it shares the most metres with,
    then to the lower grid. An atom no grid can take so is passed over; when a round gives
    none out, the first passed-over atom with a grid beside it goes to its grid of most
    metres (ground that one grid alone encloses joins that grid whatever the gap). Atoms
    that reach no building go to the nearest grid. editor.js does the same on
    :func:`ground`'s data, number for number."""
    g, gr = a.graph, a.ground
    labels = labels.copy()
    groups, parts = _UnionFind(g.n), _UnionFind(g.n)  # may join / joined
    same = (labels[g.eu] == labels[g.ev]) & (labels[g.eu] >= 0)
    for x, y in zip(g.eu[same].tolist(), g.ev[same].tolist(), strict=True):
        groups.union(x, y)
        parts.union(x, y)
    for x, y in gr.near.tolist():
        if labels[x] == labels[y] >= 0:
            groups.union(x, y)
    order = gr.order.tolist()
    side = [
        [(y, m) for y, m in gr.touch[k]] + [(order[p], m) for p, m in gr.beside[k]]
        for k in range(len(order))
    ]

    def around(k: int) -> dict[int, tuple[float, set[int], set[int]]]:
        """Per grid beside atom ``k``: metres, its groups and its parts there."""
        out: dict[int, tuple[float, set[int], set[int]]] = {}
        for y, m in side[k]:
            grid = int(labels[y])
            if grid >= 0:
                metres, gs, ps = out.get(grid, (0.0, set(), set()))
                out[grid] = (metres + m, gs | {groups.find(y)}, ps | {parts.find(y)})
        return out

    def rank(grid: int, c: tuple[float, set[int], set[int]]) -> tuple[bool, float, int]:
        return (len(c[2]) > 1, c[0], -grid)

    def give(k: int, grid: int, c: tuple[float, set[int], set[int]]) -> None:
        labels[order[k]] = grid
        for r in c[1]:
            groups.union(order[k], r)
        for r in c[2]:
            parts.union(order[k], r)

    pending = list(range(len(order)))
    while pending:
        passed: list[int] = []
        for k in pending:
            ok = {grid: c for grid, c in around(k).items() if len(c[1]) == 1}
            if not ok:
                passed.append(k)
                continue
            grid = max(ok, key=lambda x: rank(x, ok[x]))
            give(k, grid, ok[grid])
        if len(passed) == len(pending):  # none given out: the first that can, joins
            forced = next((k for k in passed if around(k)), None)
            if forced is None:
                break
            c = around(forced)
            grid = max(c, key=lambda x: (c[x][0], -x))
            give(forced, grid, c[grid])
            passed.remove(forced)
        pending = passed
    return adopt_unheld(g, labels)


def atom_labels(a: Atoms, building_grid: np.ndarray, n_grids: int) -> np.ndarray:
    """Each atom's grid: its buildings' (most households when a fused unit's buildings were
    put in different grids), and for an atom without buildings the one
    :func:`give_ground` gives it."""
    g = a.graph
    units = a.prep.units
    weight = np.zeros((len(units.households), n_grids))
    bu = units.building_unit
    bhh = np.round(a.prep.buildings["households"].to_numpy(dtype=float))
    hh = np.bincount(bu, weights=bhh, minlength=len(units.households))
    share = np.where(hh[bu] > 0, bhh / np.maximum(hh[bu], 1), 1.0)
    np.add.at(weight, (bu, building_grid), 1.0 + share)  # (a unit is mostly one building)
    labels = np.full(g.n, -1, dtype=np.int64)
    labels[g.unit_atom] = np.argmax(weight, axis=1)
    return give_ground(a, labels)


def grid_areas(a: Atoms, building_grid: np.ndarray, n_grids: int) -> np.ndarray:
    """One EPSG:4326 (Multi)Polygon per grid label 0..n_grids-1, together tiling the area;
    a grid whose atoms do not join comes out as a MultiPolygon."""
    labels = atom_labels(a, building_grid, n_grids)
    polys = grid_polygons(a.prep.blocks, a.prep.units, a.graph, labels, n_grids)
    return to_wgs84_valid(polys, a.prep.to_wgs84)


def _atom_buildings(a: Atoms, ids: np.ndarray) -> dict[int, list[int]]:
    """Building atom -> the ids of its buildings (the first one names the atom)."""
    out: dict[int, list[int]] = {}
    for pos, at in enumerate(a.building_atom.tolist()):
        out.setdefault(at, []).append(int(ids[pos]))
    return out


def neighbours(a: Atoms, ids: np.ndarray) -> list[list[int]]:
    """Pairs of building ids whose atoms share an edge (or that are fused in one unit). The
    ground between buildings the editor gives out itself, from :func:`ground`'s data."""
    g = a.graph
    atom_buildings = _atom_buildings(a, ids)
    pairs: set[tuple[int, int]] = set()
    for members in atom_buildings.values():
        pairs.update(zip(members[:-1], members[1:], strict=True))
    for u, v in zip(g.eu.tolist(), g.ev.tolist(), strict=True):
        if a.empty[u] or a.empty[v]:
            continue
        for x in atom_buildings[u]:
            for y in atom_buildings[v]:
                pairs.add((min(x, y), max(x, y)))
    return [[x, y] for x, y in sorted(pairs) if x != y]


def ground(a: Atoms, ids: np.ndarray) -> dict[str, Any]:
    """What the editor needs to give out ground as :func:`give_ground` does, JSON-ready:
    ``near``: ``[[id, id], ...]`` (building atoms named by their first building);
    ``atoms``: per building-less atom in the order they are given out, ``[[[id, metres],
    ...], [[k, metres], ...]]``: the building atoms it touches, then the building-less atoms
    (``k``: position in ``atoms``)."""
    atom_buildings = _atom_buildings(a, ids)
    gr = a.ground
    return {
        "gap_m": GAP_M,
        "near": [[atom_buildings[x][0], atom_buildings[y][0]] for x, y in gr.near.tolist()],
        "atoms": [
            [
                [[atom_buildings[y][0], m] for y, m in gr.touch[k]],
                [[p, m] for p, m in gr.beside[k]],
            ]
            for k in range(len(gr.order))
        ],
    }
