"""Level-1 grids are contiguous: one Polygon per grid on a connected area, and a grid that
still comes out in several parts is never counted as within bounds.

Data: the repository's own OSM cut (fixtures/haidian_demo.osm, households estimated). On
it the earlier engine glued far-apart pieces into one grid (a Voronoi cell clipped to a
concave block left a far fragment that served as a graph edge; bisection "mending" left
pockets cut off) and still counted those grids as within bounds.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

import geo.partition.engine as engine
from geo.partition import FLAG_MULTI, PartitionParams, partition
from tests.conftest import FIXTURES
from tests.test_partition import to_utm

CUT = shapely.box(116.3130, 39.9905, 116.3250, 40.0010)  # the fixture's bbox


@pytest.fixture(scope="module")
def demo():
    from geo.households import estimate_households
    from geo.osm import read_osm

    layers = read_osm(FIXTURES / "haidian_demo.osm")
    b = estimate_households(layers.buildings)
    b = b[b.within(CUT)][["households", "geometry"]].reset_index(drop=True)
    return CUT, b, layers.ways[["geometry"]]


def _assert_tiles(area: shapely.Geometry, grids: gpd.GeoDataFrame) -> None:
    g = to_utm(np.asarray(grids.geometry.values, dtype=object))
    a = to_utm(area)
    union = shapely.union_all(g)
    tol = 1e-6 * a.area + 1.0
    assert shapely.area(shapely.symmetric_difference(union, a)) < tol, "grids must tile"
    assert abs(shapely.area(g).sum() - union.area) < tol, "grids must not overlap"


@pytest.mark.parametrize(
    ("lo", "hi", "seed"),
    [
        (300, 500, 0),
        (300, 500, 2),
        # Grid 024 of this plan came out as two parts touching at one point: a cell edge
        # met a street side at a T-junction and the dissolve left a micrometre wedge
        # between them (see ``assemble.dissolve``).
        (100, 300, 2),
        (100, 300, 3),
        (150, 250, 0),
        (100, 300, 1),
        (100, 200, 0),
    ],
)
def test_grids_on_a_connected_area_are_single_polygons(demo, lo, hi, seed):
    area, b, s = demo
    r = partition(area, b, s, PartitionParams(lo, hi, seed=seed))
    types = r.grids.geometry.geom_type.tolist()
    bad = [(c, t) for c, t in zip(r.grids["code"], types, strict=True) if t != "Polygon"]
    assert not bad, f"non-contiguous grids: {bad}"
    assert r.summary["n_multipart"] == 0
    assert not any(FLAG_MULTI in f for f in r.grids["flags"])
    _assert_tiles(area, r.grids)
    # Every building lies in its own grid (never cut).
    pos = {c: i for i, c in enumerate(r.grids["code"])}
    g = np.asarray(r.grids.geometry.values, dtype=object)
    own = g[[pos[c] for c in r.building_grid.reindex(b.index)]]
    fp = to_utm(np.asarray(b.geometry.values, dtype=object))
    outside = shapely.area(shapely.difference(fp, to_utm(own)))
    assert (outside <= 1e-6 * shapely.area(fp) + 1e-3).all()


def test_grid_atoms_stay_connected_in_bisection(demo):
    """No region of the bisection is a set of pockets (checked on the atom graph)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    area, b, s = demo
    seen = {}
    real = engine._regions

    def spy(graph, params, angles):
        out = real(graph, params, angles)
        seen["graph"], seen["labels"] = graph, out[0]
        return out

    mp = pytest.MonkeyPatch()
    mp.setattr(engine, "_regions", spy)
    try:
        partition(area, b, s, PartitionParams(100, 300, seed=2))
    finally:
        mp.undo()
    graph, labels = seen["graph"], seen["labels"]
    for r in np.unique(labels).tolist():
        idx = np.flatnonzero(labels == r)
        pos = np.full(graph.n, -1)
        pos[idx] = np.arange(len(idx))
        m = (labels[graph.eu] == r) & (labels[graph.ev] == r)
        g = coo_matrix(
            (np.ones(int(m.sum())), (pos[graph.eu[m]], pos[graph.ev[m]])),
            shape=(len(idx), len(idx)),
        )
        assert connected_components(g, directed=False)[0] == 1, f"region {r} in pockets"


def test_multipart_grid_is_not_counted_within_bounds(demo, monkeypatch):
    """Force one within-bounds grid into two parts (a small square carved out of a grid far
    away): the summary must not count it as within bounds nor feasible-within, and must
    list it with a reason."""
    area, b, s = demo
    lo, hi = 300, 600
    real = engine.grid_polygons
    picked = {}

    def carve(blocks, units, graph, labels, n):
        polys = real(blocks, units, graph, labels, n).copy()
        hh = np.bincount(labels, weights=graph.households, minlength=n)
        ok = np.flatnonzero((hh >= lo) & (hh <= hi))
        dst = int(ok[0])
        far = [int(j) for j in range(n) if j != dst and shapely.distance(polys[j], polys[dst]) > 50]
        src = far[0]
        # A 4 m square away from the source grid's buildings (never cuts a building).
        free = shapely.difference(polys[src], shapely.buffer(shapely.union_all(units.geoms), 5))
        c = shapely.point_on_surface(free)
        sq = shapely.intersection(shapely.box(c.x - 2, c.y - 2, c.x + 2, c.y + 2), free)
        polys[src] = shapely.difference(polys[src], sq)
        polys[dst] = shapely.union(polys[dst], sq)
        picked["hh"] = int(hh[dst])
        return polys

    monkeypatch.setattr(engine, "grid_polygons", carve)
    r = partition(area, b, s, PartitionParams(lo, hi))
    sm = r.summary
    multi = r.grids["flags"].map(lambda f: FLAG_MULTI in f)
    assert multi.sum() == 1 and sm["n_multipart"] == 1
    hh = r.grids["households"]
    in_bounds = (hh >= lo) & (hh <= hi)
    assert in_bounds[multi].all(), "the carved grid itself is within the household bounds"
    assert sm["n_within_bounds"] == int((in_bounds & ~multi).sum())
    assert sm["share_within_bounds"] < 1.0
    assert sm["n_feasible_within_bounds"] < sm["n_feasible"]
    assert sm["share_feasible_within_bounds"] < 1.0
    item = next(x for x in sm["flagged"] if FLAG_MULTI in x["flags"])
    assert item["code"] == r.grids["code"][multi].iloc[0]
    assert any("part" in w for w in item["reasons"])


def test_area_below_min_is_named(demo):
    area, b, s = demo
    total = int(b["households"].sum())
    r = partition(area, b, s, PartitionParams(total + 1000, total + 5000))
    assert len(r.grids) == 1
    item = r.summary["flagged"][0]
    assert item["flags"] == ["under_min:area_below_min"]
    assert str(total) in item["reasons"][0]
    assert r.summary["n_infeasible"] == 1 and r.summary["n_within_bounds"] == 0


def test_all_zero_households_is_area_below_min(demo):
    area, b, s = demo
    b = b.assign(households=0)
    r = partition(area, b, s, PartitionParams(300, 500))
    assert [x["flags"] for x in r.summary["flagged"]] == [["under_min:area_below_min"]]


def test_no_whole_number_of_grids_is_named(demo):
    area, b, s = demo
    total = int(b["households"].sum())
    # Bounds no count of grids fits: 2 × hi < total < 3 × lo.
    lo, hi = total // 3 + 50, total // 2 - 50
    assert 2 * hi < total < 3 * lo
    r = partition(area, b, s, PartitionParams(lo, hi))
    flagged = r.summary["flagged"]
    assert flagged, "an impossible split must be flagged"
    flags = [f for x in flagged for f in x["flags"]]
    assert any(f.endswith(":no_whole_number_of_grids") for f in flags)
    assert not any(f.endswith((":unresolved", ":enclosed_block")) for f in flags)
    assert r.summary["n_infeasible"] >= 1
