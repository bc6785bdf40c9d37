"""Ground nobody lives on does not make an edited grid contiguous (geo.partition.given).

Tester (a planner in the editor), demo community 110108015004: a new grid of buildings
47–51 (the row at the top right) and 104 (alone on the far bottom-left strip) passed as
connected, in the page and in the saved draft: the building-less atoms of the community
(the strips between parallel street lines, one network through all of it) went as one piece
to the grid with the longest edge on it, and so joined any two of its buildings; the grid
was drawn as one 116,590 m² polygon snaking round grids 001 and 003. Ground is now given out
atom by atom and joins two parts of a grid only when they are within ``GAP_M`` (a road, a
lane, a small court between them) or when that grid alone encloses it.

The editor's live check must give ground out exactly as the server draws it:
:func:`_page_parts` below does, step for step, what editor.js is to do with
:func:`geo.partition.given.ground`'s data, and must agree with the drawn polygons.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.geometry
from pyproj import Transformer
from sqlalchemy import text

from geo.partition.given import GAP_M, atom_labels, atoms, grid_areas, ground, neighbours
from geo.plan_drafts import DraftGrid, save_draft
from geo.plans import load_inputs

COMMUNITY = "110108015004"
LO, HI = 300, 500
X0, Y0 = 441_000.0, 4_427_000.0  # UTM 50N, Haidian
_TO_WGS = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


# --- the demo city --------------------------------------------------------------------


@pytest.fixture()
def city(db):  # noqa: ANN001, ANN201
    from geo.demo import load_city, make_grids

    load_city(db)
    make_grids(db, LO, HI)
    return db


def _current(engine) -> list[tuple[str, list[int]]]:  # noqa: ANN001
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, g.properties->'building_ids' AS ids FROM grids g "
                "JOIN areas a ON a.id = g.community_id WHERE a.code = :c AND g.level = 1 "
                "AND g.retired_at IS NULL ORDER BY g.code"
            ),
            {"c": COMMUNITY},
        ).all()
    return [(r.code, sorted(int(b) for b in r.ids)) for r in rows]


def _with_new_grid(current: list[tuple[str, list[int]]], new: list[int]) -> list[DraftGrid]:
    """The current grids with ``new`` taken out of them into a new grid (the editor's
    ＋ 新网格 and clicks)."""
    grids = [DraftGrid(code, [b for b in ids if b not in new]) for code, ids in current]
    return [g for g in grids if g.building_ids] + [DraftGrid(None, list(new))]


def test_a_new_grid_joined_only_by_empty_strips_is_disconnected(city) -> None:  # noqa: ANN001
    """The tester's steps: buildings 47–51 and 104 in a new grid are flagged
    ``disconnected`` (as 104 + 48 alone are), and the grid is drawn as its two building
    groups, not as one snake along the southern strips. The current grids, 005 among them
    (buildings 5 and 99 across a 25 m road from 104's block), stay connected."""
    current = _current(city)
    assert [c[-3:] for c, _ in current] == ["001", "002", "003", "004", "005"]
    assert set(range(47, 52)) <= set(current[0][1]) and 104 in current[4][1]

    out = save_draft(city, COMMUNITY, LO, HI, [DraftGrid(c, ids) for c, ids in current])
    assert [g["flags"] for g in out["grids"] if "disconnected" in g["flags"]] == []

    plans = []
    for new in ([47, 48, 49, 50, 51, 104], [104, 48]):
        out = save_draft(city, COMMUNITY, LO, HI, _with_new_grid(current, new))
        assert "disconnected" in out["grids"][-1]["flags"], (new, out["grids"][-1])
        others = [g for g in out["grids"][:-1] if "disconnected" in g["flags"]]
        assert others == [], others
        plans.append(out["plan_id"])

    with city.connect() as conn:
        feats = conn.execute(
            text("SELECT features FROM grid_plans WHERE id = :p"), {"p": plans[0]}
        ).scalar_one()["features"]
        buildings = load_inputs(conn, COMMUNITY)[2]
    drawn = shapely.geometry.shape(feats[-1]["geometry"])
    assert feats[-1]["properties"]["building_ids"] == [47, 48, 49, 50, 51, 104]
    parts = shapely.get_parts(drawn)
    assert len(parts) == 2
    # each part holds one of the two groups of buildings: no building-less piece, no snake
    at = {int(b): g for b, g in zip(buildings.index, buildings.geometry, strict=True)}
    groups = [{47, 48, 49, 50, 51}, {104}]
    for part in parts:
        inside = {b for b in (47, 48, 49, 50, 51, 104) if part.contains(at[b].point_on_surface())}
        assert inside in groups, inside


def test_the_page_data_gives_ground_out_as_the_server_draws(city) -> None:  # noqa: ANN001
    """:func:`ground`'s data, given out as editor.js is to (:func:`_page_parts`), finds the
    same grids in several parts as the drawn polygons, on the demo community's own grids
    and on 60 edits of them (buildings moved to random grids, new random grids)."""
    with city.connect() as conn:
        _area, outline, buildings, streets = load_inputs(conn, COMMUNITY)
    a = atoms(outline, buildings, streets if len(streets) else None)
    ids = buildings.index.to_numpy(dtype=np.int64)
    pairs = neighbours(a, ids)
    data = json.loads(json.dumps(ground(a, ids)))  # what reaches the page
    assert data["gap_m"] == GAP_M
    held = {b: i for i, (_c, bs) in enumerate(_current(city)) for b in bs}
    base = np.array([held[int(b)] for b in ids], dtype=np.int64)
    rng = np.random.default_rng(7)
    multi = 0
    for t in range(61):
        label = base.copy()
        if 0 < t <= 40:
            for _ in range(int(rng.integers(1, 6))):
                label[rng.integers(len(label))] = rng.integers(base.max() + 2)
        elif t > 40:
            label = rng.integers(int(rng.integers(2, 6)), size=len(label))
        label = np.unique(label, return_inverse=True)[1]  # every grid holds a building
        n = int(label.max()) + 1
        drawn = [int(shapely.get_num_geometries(p)) > 1 for p in grid_areas(a, label, n)]
        assign = {int(b): int(g) for b, g in zip(ids, label, strict=True)}
        page = [c > 1 for c in _page_parts(pairs, data, assign, n)]
        assert page == drawn, (t, page, drawn)
        multi += sum(drawn)
    assert multi > 20  # the edits did make grids in several parts


# --- small made-up streets: what is a short gap ---------------------------------------


def _scene(
    north: list[float], south: list[float], width: float = 400.0, strip: float = 10.0
) -> tuple[shapely.Geometry, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A street strip ``strip`` m wide across an area ``width`` × (60 + strip + 60) m, the
    blocks north and south of it cut by cross streets at ``north`` / ``south`` (x, metres);
    one building in each block. Blocks are numbered north first, west to east."""
    lo, hi = 60.0, 60.0 + strip
    top = hi + 60.0
    cuts = sorted({*north, *south})
    lines = [[(x0, y), (x1, y)] for y in (lo, hi) for x0, x1 in _spans(cuts, width)]
    lines += [[(x, hi), (x, top)] for x in north] + [[(x, 0.0), (x, lo)] for x in south]
    ring = [(0.0, 0.0), *((x, 0.0) for x in south), (width, 0.0), (width, lo), (width, hi)]
    ring += [(width, top), *((x, top) for x in reversed(north)), (0.0, top), (0.0, hi)]
    ring += [(0.0, lo)]
    boxes = []
    for cut, y0, y1 in ((north, hi, top), (south, 0.0, lo)):
        for x0, x1 in _spans(cut, width):
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            boxes.append(shapely.box(mx - 5, my - 5, mx + 5, my + 5))
    return _wgs(shapely.Polygon(ring), boxes, lines)


def _spans(cuts: list[float], width: float) -> list[tuple[float, float]]:
    edges = [0.0, *sorted(cuts), width]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _wgs(
    area: shapely.Geometry, boxes: list[shapely.Geometry], lines: list
) -> tuple[shapely.Geometry, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    def to_wgs(g):  # noqa: ANN001, ANN202
        moved = shapely.transform(g, lambda c: c + np.array([X0, Y0]))
        return shapely.transform(
            moved, lambda c: np.column_stack(_TO_WGS.transform(c[:, 0], c[:, 1]))
        )

    b = gpd.GeoDataFrame(
        {"households": np.full(len(boxes), 50)},
        geometry=to_wgs(np.array(boxes, dtype=object)),
        crs="EPSG:4326",
    )
    s = gpd.GeoDataFrame(geometry=to_wgs(shapely.linestrings(lines)), crs="EPSG:4326")
    return to_wgs(area), b, s


def _parts(scene: tuple, label: list[int]) -> list[int]:
    a = atoms(*scene)
    assert a.empty.sum() >= 1  # the strip is ground
    polys = grid_areas(a, np.array(label), max(label) + 1)
    return [int(shapely.get_num_geometries(p)) for p in polys]


def test_a_road_verge_between_two_blocks_of_one_grid_joins_them() -> None:
    """Blocks N0 and S0 of grid 0 face each other across a 10 m strip; grids 1 and 2 have
    far more edge on the strip (340 m each to grid 0's 120 m). The strip joins grid 0's
    blocks (it joins parts of grid 0, and no others), and grids 1 and 2 stay whole. (Given
    as one piece to the grid of most metres, it split grid 0.)"""
    scene = _scene(north=[60.0, 300.0], south=[60.0, 260.0])
    # north N0 0–60, N1 60–300, N2 300–400; south S0 0–60, S1 60–260, S2 260–400
    assert _parts(scene, [0, 2, 2, 0, 1, 1]) == [1, 1, 1]


def test_a_strip_does_not_join_blocks_of_one_grid_far_apart() -> None:
    """Grid 0 holds N0 (x 0–150) and S2 (x 260–400), 110 m apart, both on the one strip
    atom, and has the most edge on it (290 m): the strip goes to another grid and grid 0 is
    in two parts. (Given to the grid of most metres, it made grid 0 one polygon.)"""
    scene = _scene(north=[150.0, 300.0], south=[210.0, 260.0])
    # north N0 0–150, N1 150–300, N2 300–400; south S0 0–210, S1 210–260, S2 260–400
    assert _parts(scene, [0, 2, 2, 1, 1, 0]) == [2, 1, 1]


def test_ground_only_one_grid_encloses_joins_it_whatever_the_gap() -> None:
    """An 80 m park with grid 0's blocks north and south of it and nothing else beside it
    (grid 1 is beyond the northern block) goes to grid 0 and joins it: there is no other
    grid to give it to."""
    ys = (60.0, 140.0, 200.0)
    lines = [[(0.0, y), (100.0, y)] for y in ys]
    ring = [(0.0, 0.0), (100.0, 0.0), *((100.0, y) for y in ys), (100.0, 260.0), (0.0, 260.0)]
    ring += [(0.0, y) for y in reversed(ys)]
    boxes = [shapely.box(45, 25, 55, 35), shapely.box(45, 165, 55, 175)]
    boxes.append(shapely.box(45, 225, 55, 235))
    scene = _wgs(shapely.Polygon(ring), boxes, lines)
    assert _parts(scene, [0, 0, 1]) == [1, 1]


def test_overlapping_buildings_in_two_grids_are_drawn() -> None:
    """Two overlapping footprints are one unit (one atom); put in two grids, the atom goes
    to the grid with more of the unit (it raised ValueError: the households were summed
    per unit with the units' own households as weights)."""
    scene = _scene(north=[200.0], south=[200.0])
    area, b, s = scene
    extra = b.geometry.iloc[0].buffer(0.00002)
    b = gpd.GeoDataFrame(
        {"households": [*b["households"].tolist(), 150]},
        geometry=[*b.geometry.tolist(), extra],
        crs="EPSG:4326",
    )
    a = atoms(area, b, s)
    assert len(a.prep.units.households) == len(b) - 1
    label = np.array([0, 1, 0, 1, 1])  # N0 (50 households) in 0, its overlap (150) in 1
    labels = atom_labels(a, label, 2)
    assert labels[a.building_atom[0]] == 1 == labels[a.building_atom[-1]]
    assert not shapely.is_empty(grid_areas(a, label, 2)).any()


# --- editor.js, step for step -----------------------------------------------------------


class _UF:
    def __init__(self) -> None:
        self.up: dict[str, str] = {}

    def find(self, x: str) -> str:
        while x in self.up:
            x = self.up[x]
        return x

    def union(self, x: str, y: str) -> None:
        x, y = self.find(x), self.find(y)
        if x != y:
            self.up[x] = y


def _page_parts(
    adjacency: list[list[int]], data: dict, assign: dict[int, int], n_grids: int
) -> list[int]:
    """Parts per grid as editor.js is to count them: only the page's data (building pairs,
    :func:`ground`'s JSON, the building → grid map), metres added in the data's order."""
    atoms_ = data["atoms"]
    groups, parts = _UF(), _UF()
    lab = [-1] * len(atoms_)
    for x, y in adjacency:
        if assign[x] == assign[y]:
            groups.union(f"b{x}", f"b{y}")
            parts.union(f"b{x}", f"b{y}")
    for x, y in data["near"]:
        if assign[x] == assign[y]:
            groups.union(f"b{x}", f"b{y}")

    def around(k: int) -> dict[int, list]:
        out: dict[int, list] = {}
        side = [(assign[b], m, f"b{b}") for b, m in atoms_[k][0]]
        side += [(lab[j], m, f"g{j}") for j, m in atoms_[k][1]]
        for grid, m, node in side:
            if grid < 0:
                continue
            c = out.setdefault(grid, [0.0, set(), set()])
            c[0] = c[0] + m
            c[1].add(groups.find(node))
            c[2].add(parts.find(node))
        return out

    def give(k: int, grid: int, c: list) -> None:
        lab[k] = grid
        for r in c[1]:
            groups.union(f"g{k}", r)
        for r in c[2]:
            parts.union(f"g{k}", r)

    pending = list(range(len(atoms_)))
    while pending:
        passed = []
        for k in pending:
            c = around(k)
            ok = [g for g in c if len(c[g][1]) == 1]
            if not ok:
                passed.append(k)
                continue
            g = max(ok, key=lambda g: (len(c[g][2]) > 1, c[g][0], -g))
            give(k, g, c[g])
        if len(passed) == len(pending):
            forced = next((k for k in passed if around(k)), None)
            if forced is None:
                break
            c = around(forced)
            g = max(c, key=lambda g: (c[g][0], -g))
            give(forced, g, c[g])
            passed.remove(forced)
        pending = passed
    roots: list[set[str]] = [set() for _ in range(n_grids)]
    for b, g in assign.items():
        roots[g].add(parts.find(f"b{b}"))
    return [len(r) for r in roots]
