"""No ejection-chain search where none can succeed (outside tester T64, F12: file-mode
``assign stewards`` with 10 people for 377 alleys took 22.3 s, 0.8 s normally)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

import geo.assign.balanced as balanced
from geo.assign.stewards import StewardParams, assign_stewards

TO_WGS = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
ORIGIN = [443_000.0, 4_428_000.0]  # metres (UTM 50N), near Tsinghua


def _lines(coords_list: list) -> list:
    out = []
    for coords in coords_list:
        xy = np.asarray(coords, dtype=float) + ORIGIN
        out.append(shapely.LineString(np.column_stack(TO_WGS.transform(xy[:, 0], xy[:, 1]))))
    return out


def _people(xy: list) -> pd.DataFrame:
    xy = np.asarray(xy, dtype=float) + ORIGIN
    lon, lat = TO_WGS.transform(xy[:, 0], xy[:, 1])
    return pd.DataFrame({"person_id": [f"p{i}" for i in range(len(xy))], "lon": lon, "lat": lat})


def test_no_chain_search_when_nobody_has_room(monkeypatch):
    """T64 F12: 10 stewards for 377 alleys, all at the 5-alley cap, took 22 s: each alley left
    short ran the whole ejection-chain search (every path 3 deep), which cannot end anywhere.
    Here 3 stewards (2 alleys each) for 30 alleys: no search is started; forced, the searches
    run and cover no more."""
    network = gpd.GeoDataFrame(geometry=_lines([[(0, 0), (3000, 0)]]), crs="EPSG:4326")
    alleys = gpd.GeoDataFrame(
        {"alley_id": [f"s{i}" for i in range(30)]},
        geometry=_lines([[(100 * i, 0), (100 * (i + 1), 0)] for i in range(30)]),
        crs="EPSG:4326",
    )
    people = _people([(150, 5), (1450, 5), (2750, 5)])
    params = StewardParams(time_limit_s=1, max_alleys_per_person=2)
    calls = []
    place = balanced._place

    def counted(*args, **kw):
        calls.append(1)
        return place(*args, **kw)

    monkeypatch.setattr(balanced, "_place", counted)
    r = assign_stewards(alleys, people, params, network=network)
    assert len(r.assignments) == 6 and len(r.uncovered) == 24
    assert calls == []
    monkeypatch.setattr(balanced, "_room_within", lambda *_a: True)
    forced = assign_stewards(alleys, people, params, network=network)
    assert len(calls) > 100 and len(forced.assignments) == 6
