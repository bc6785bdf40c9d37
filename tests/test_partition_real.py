"""Partition on the real Tsinghua/Wudaokou OSM extract (households estimated)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.partition import PartitionParams, partition
from tests.test_partition import assert_same, check_partition


@pytest.fixture(scope="module")
def tsinghua(shared_data):
    from geo.households import estimate_households
    from geo.osm import read_osm

    layers = read_osm(shared_data / "osm_beijing_haidian" / "tsinghua_wudaokou_2017.osm")
    area = shapely.box(116.3084, 39.9905, 116.3320, 40.0123)  # the extract's <bounds>
    b = estimate_households(layers.buildings)
    b = b[b.within(area)][["households", "geometry"]].reset_index(drop=True)
    streets = layers.ways[["geometry"]]
    return area, b, streets


@pytest.mark.parametrize(("lo", "hi"), [(300, 500), (100, 200)])
def test_real_extract_invariants(tsinghua, lo, hi):
    area, b, s = tsinghua
    assert len(b) > 400 and b["households"].sum() > 0
    params = PartitionParams(lo, hi, seed=1)
    r = partition(area, b, s, params)
    check_partition(area, b, params, r)
    assert_same(r, partition(area, b, s, params))
    summary = r.summary
    # Independent recount: grids holding a building over max are infeasible by nature.
    over = b["households"].to_numpy() > hi
    assert summary["n_infeasible"] >= len(set(r.building_grid[over]))
    # Most grids must reach the bounds and most boundary must follow streets.
    assert summary["share_feasible_within_bounds"] >= 0.9
    assert summary["street_boundary_share"] > 0.5
    assert np.isfinite(summary["mean_polsby_popper"])
