"""Street chiefs on the Haidian streets, grid staffing "1+N", and coverage rates."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geo.assign.chiefs import ChiefParams, assign_chiefs, streets_from_segments
from geo.assign.coverage import alley_coverage, coverage_by_level, grid_coverage
from geo.assign.grids import GridParams, staff_grids
from geo.errors import InputError
from tests.test_assign_cases import UTM, haidian_segments, independent_walks, people_on_nodes

TO_WGS = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


@pytest.fixture(scope="module")
def streets(shared_data):
    segs = haidian_segments(shared_data)
    return streets_from_segments(segs[segs["kind"] == "street"], "street_key")


def test_every_street_gets_a_chief(shared_data, streets):
    segs = haidian_segments(shared_data)
    people = people_on_nodes(streets, 45, seed=5)
    params = ChiefParams()
    r = assign_chiefs(streets, people, params, network=segs[["geometry"]])
    walks = independent_walks(shared_data, streets, "street_id", people, params.max_walk_m)
    reachable = {s for s, w in walks.items() if w}
    held = r.assignments.groupby("street_id").size()
    assert reachable <= set(held.index)
    assert (held == 1).all()
    assert r.assignments.groupby("person_id").size().max() <= params.max_streets_per_chief
    assert set(r.uncovered) == set(streets["street_id"]) - set(held.index)
    across = set(r.summary.get("across_gaps", []))  # on pieces nobody lives on (join_unreached)
    assert not across & reachable
    for s, p, w in r.assignments.itertuples(index=False):
        if s in across:
            assert not walks[s] and 0 < w <= params.max_walk_m
        else:
            assert w == pytest.approx(walks[s][p], abs=1.0)


def test_too_few_chiefs_lists_uncovered(shared_data, streets):
    people = people_on_nodes(streets, 10, seed=6)
    r = assign_chiefs(streets, people, ChiefParams(max_streets_per_chief=3))
    assert len(r.assignments) <= 30
    assert len(r.uncovered) == len(streets) - len(r.assignments)
    assert r.summary["coverage"] == pytest.approx(len(r.assignments) / len(streets), abs=1e-4)


def test_chief_leaving_moves_only_their_streets(shared_data, streets):
    segs = haidian_segments(shared_data)[["geometry"]]
    people = people_on_nodes(streets, 45, seed=5)
    r = assign_chiefs(streets, people, network=segs)
    leaver = r.assignments["person_id"].iloc[0]
    stay = people[people["person_id"] != leaver]
    r2 = assign_chiefs(streets, stay, network=segs, existing=r.assignments)
    before = r.assignments[r.assignments["person_id"] != leaver].set_index("street_id")
    after = r2.assignments.set_index("street_id")["person_id"]
    assert (after[before.index] == before["person_id"]).all()
    assert leaver not in set(after)


def _boxes(n_cols: int, n_rows: int, size: float = 500.0):
    polys, centres = [], []
    x0, y0 = 440_000.0, 4_428_000.0
    for r in range(n_rows):
        for c in range(n_cols):
            x, y = x0 + c * size, y0 + r * size
            xs, ys = TO_WGS.transform([x, x + size, x + size, x], [y, y, y + size, y + size])
            polys.append(shapely.Polygon(zip(xs, ys, strict=True)))
            centres.append(TO_WGS.transform(x + size / 2, y + size / 2))
    return polys, centres


def test_grid_staffing_one_plus_n():
    polys, centres = _boxes(3, 2)
    households = [50, 150, 250, 0, 99, 101]
    grids = gpd.GeoDataFrame(
        {"grid_id": [f"g{i}" for i in range(6)], "households": households,
         "community_id": ["c1", "c1", "c1", "c2", "c2", "c2"]},
        geometry=polys, crs="EPSG:4326",
    )  # fmt: skip
    need = [math.ceil(h / 100) for h in households]
    rows = []
    for i, (lon, lat) in enumerate(centres):
        rows.append((f"L{i}", lon, lat, "grid_leader", grids["community_id"][i]))
        for k in range(need[i]):
            rows.append((f"W{i}_{k}", lon, lat, "grid_worker", grids["community_id"][i]))
    people = pd.DataFrame(rows, columns=["person_id", "lon", "lat", "roles", "community_id"])
    r = staff_grids(grids, people, GridParams())
    got = r.assignments.groupby(["grid_id", "role"]).size().unstack(fill_value=0)
    assert (got["grid_leader"] == 1).all()
    assert got["grid_worker"].reindex(grids["grid_id"], fill_value=0).tolist() == need
    assert r.short.empty
    assert r.summary["staffed_rate"] == 1.0
    # Each person serves one grid; everyone sits at their own grid's centre.
    assert not r.assignments["person_id"].duplicated().any()
    assert (r.assignments["distance_m"] == 0).all()

    # Remove grid g2's leader and one of its workers: g2 is short. A spare leader of community
    # c2 living right inside g2 must not fill it (wrong community).
    people2 = people[~people["person_id"].isin(["L2", "W2_0"])]
    g2_lon, g2_lat = centres[2]
    spare = pd.DataFrame([("S_c2", g2_lon, g2_lat, "grid_leader", "c2")], columns=people.columns)
    people2 = pd.concat([people2, spare], ignore_index=True)
    r2 = staff_grids(grids, people2, GridParams())
    short = r2.short.set_index("grid_id")
    assert list(short.index) == ["g2"]
    assert short.loc["g2", "leaders_assigned"] == 0 and short.loc["g2", "workers_assigned"] == 2
    assert r2.summary["fully_staffed"] == 5
    assert "S_c2" not in set(r2.assignments["person_id"])
    # A spare c1 leader living in the next box (250 m from g2) does fill it.
    g5_lon, g5_lat = centres[5]
    spare_c1 = pd.DataFrame([("S_c1", g5_lon, g5_lat, "grid_leader", "c1")], columns=people.columns)
    r3 = staff_grids(grids, pd.concat([people2, spare_c1], ignore_index=True), GridParams())
    lead = r3.assignments[r3.assignments["role"] == "grid_leader"].set_index("grid_id")
    assert lead.loc["g2", "person_id"] == "S_c1"
    assert lead.loc["g2", "distance_m"] == pytest.approx(250, abs=1)

    cov = grid_coverage(grids, r2.assignments, households_per_worker=100)
    by_c = cov.set_index("community_id")
    assert by_c.loc["c1", "fully_staffed"] == 2 and by_c.loc["c2", "fully_staffed"] == 3
    assert by_c.loc["c1", "households_per_worker"] == pytest.approx(450 / 5)

    with pytest.raises(InputError, match="households"):
        staff_grids(grids.drop(columns=["households"]), people)
    with pytest.raises(InputError, match="no grids"):
        staff_grids(grids.iloc[:0], people)


def test_coverage_rates_by_level():
    alleys = pd.DataFrame(
        {"alley_id": list("abcdef"), "community_id": ["c1"] * 3 + ["c2"] * 3,
         "subdistrict_id": ["s1"] * 6}
    )  # fmt: skip
    pairs = pd.DataFrame({"alley_id": ["a", "b", "d", "d"], "person_id": ["x", "y", "x", "z"]})
    by_c = alley_coverage(alleys, pairs, by=["community_id"]).set_index("community_id")
    assert by_c.loc["c1", "coverage_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert by_c.loc["c2", "coverage_rate"] == pytest.approx(1 / 3, abs=1e-4)
    levels = coverage_by_level(alleys, pairs, "alleys")
    assert set(levels) == {"subdistrict_id", "community_id", "all"}
    assert levels["all"]["coverage_rate"].iloc[0] == pytest.approx(0.5)
    empty = alley_coverage(alleys, pairs.iloc[:0])
    assert (empty["covered"] == 0).all()
    assert np.isclose(levels["subdistrict_id"]["coverage_rate"].iloc[0], 0.5)
