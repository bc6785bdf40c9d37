"""The route table of a network larger than the dense matrix's bound (outside tester T54 #1):
an ``else`` under the wrong ``if`` emptied it for every network over ``dense_max_nodes``
(4,096 nodes), so short routes read as beyond the table's 400 m and a perfect walk lost 40 %
of its credit on a district-size network. The demo network, rebuilt with the bound at 0,
must keep its table and match exactly as with the dense matrix."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from geo.tracks.match import MatchParams, match_track
from geo.tracks.network import WalkNetwork
from tests.test_datum_hint import _phone_walk, _random_line
from tests.test_datum_hint import demo as demo  # noqa: F401  (the fixture)
from tests.test_match_t52 import T0


def _sparse(net: WalkNetwork) -> WalkNetwork:
    """``net`` with its route table as sorted keys only (as a network over the bound has)."""
    net.dense_max_nodes = 0
    net.build_ubodt(net.ubodt_delta_m)
    return net


def test_a_network_over_the_dense_bound_keeps_its_route_table(demo) -> None:  # noqa: ANN001
    dense = demo
    assert dense.ub_dense is not None and len(dense.ub_keys) > 0
    n_keys = len(dense.ub_keys)
    sparse = _sparse(copy.copy(dense))
    assert sparse.ub_dense is None
    assert len(sparse.ub_keys) == n_keys  # old code: 0
    rng = np.random.default_rng(54)
    for _ in range(6):
        line = _random_line(dense, rng)
        lon, lat = _phone_walk(dense, line, rng, 5.0)
        t = T0 + pd.to_timedelta(np.arange(len(lon)) * 3.0, unit="s")
        pts = pd.DataFrame({"lon": lon, "lat": lat, "time": t, "accuracy": np.nan})
        a = match_track(dense, [pts], MatchParams())
        b = match_track(sparse, [pts], MatchParams())
        assert a.edges["edge_id"].tolist() == b.edges["edge_id"].tolist()
        assert np.allclose(a.edges["covered_m"], b.edges["covered_m"])
        assert b.matched_points == len(pts)
