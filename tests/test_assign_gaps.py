"""Pieces of network nobody lives on are joined across small gaps in the map data
(geo.assign.walk.join_unreached), so their alleys can be staffed, and the planner is told.

The demo city's 莲桥 island (paths on an island whose bridge ends short of the shore in the
OSM data) and a footbridge over 成府路 (its stairs unmapped) were never staffed: 10 of its 86
alleys stayed uncovered with stewards to spare, and nothing said why (outside tester).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from sqlalchemy import text

from geo.assign.reach import compute_reach
from geo.assign.stewards import StewardParams, assign_stewards
from tests.test_assign_cases import UTM, haidian_alleys, haidian_segments, people_on_nodes

TO_WGS = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
X0, Y0 = 440_000.0, 4_420_000.0  # metres, UTM 50N (Haidian)


def _lines(coords: list[list[tuple[float, float]]]) -> np.ndarray:
    out = []
    for c in coords:
        lon, lat = TO_WGS.transform([X0 + x for x, _ in c], [Y0 + y for _, y in c])
        out.append(shapely.LineString(np.column_stack([lon, lat])))
    return np.array(out, dtype=object)


def _town() -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """West: a 300 m street with two alleys where people live. 40 m east of it: an island
    path where nobody lives. 30 m beyond the island's far end: a second street where one
    person lives, its alley 60 m from the west street's end."""
    alleys = gpd.GeoDataFrame(
        {"alley_id": ["west", "west2", "island", "east"]},
        geometry=_lines(
            [
                [(0, 0), (300, 0)],
                [(0, 0), (0, 200)],
                [(340, 0), (440, 0)],
                [(470, 50), (470, 250)],
            ]
        ),
        crs="EPSG:4326",
    )
    lon, lat = TO_WGS.transform([X0 + 10, X0 + 5, X0 + 472], [Y0 + 3, Y0 + 150, Y0 + 240])
    people = pd.DataFrame({"person_id": ["w1", "w2", "e1"], "lon": lon, "lat": lat})
    return alleys, people


def test_an_island_nobody_lives_on_is_staffed_across_its_gap_and_named() -> None:
    alleys, people = _town()
    res = assign_stewards(alleys, people, StewardParams(max_alleys_per_person=5))
    held = dict(zip(res.assignments["alley_id"], res.assignments["person_id"], strict=True))
    assert res.uncovered == [] and res.summary["across_gaps"] == ["island"]
    # joined to the nearer piece (40 m west; the east street is 30 m off the island's end,
    # but someone lives there, so the island hangs off one of them, priced 2 × the gap)
    walk = res.assignments.set_index("alley_id")["walk_m"]
    assert held["island"] in {"w1", "w2", "e1"} and 0 < walk["island"] < 2000
    # the two streets where people live are not joined to each other through the island:
    # nobody of the west walks to the east alley, nor back
    assert held["east"] == "e1" and held["west"] in {"w1", "w2"}
    reach = compute_reach(alleys, people, None, 2000, 500, "alleys", max_gap_m=100)
    pairs = {(int(p), int(i)) for p, i in zip(reach.person, reach.item, strict=True)}
    assert (0, 3) not in pairs and (1, 3) not in pairs and (2, 0) not in pairs
    assert res.summary["unreachable"] == []


def test_without_joining_the_island_is_unreachable_and_said_so() -> None:
    alleys, people = _town()
    res = assign_stewards(alleys, people, StewardParams(max_data_gap_m=0))
    assert res.uncovered == ["island"] and res.summary["unreachable"] == ["island"]
    assert res.summary["across_gaps"] == []
    # a gap wider than the limit is not crossed either
    res = assign_stewards(alleys, people, StewardParams(max_data_gap_m=25))
    assert res.uncovered == ["island"] and res.summary["unreachable"] == ["island"]


def test_joining_never_shortens_a_walk_that_existed_on_the_real_network(shared_data) -> None:
    """Real Haidian network, 300 people: every home → alley walk found without joining is
    found again, to the centimetre, with joining; joining only adds walks to pieces nobody
    lived on."""
    alleys = haidian_alleys(shared_data)
    network = haidian_segments(shared_data)[["geometry"]]
    people = people_on_nodes(alleys, 300, seed=5)
    plain = compute_reach(alleys, people, network, 2000, 500, "alleys")
    joined = compute_reach(alleys, people, network, 2000, 500, "alleys", max_gap_m=100)
    got = joined.lookup(plain.item, plain.person)
    np.testing.assert_allclose(got, plain.metres, atol=0.01)
    assert len(joined.metres) >= len(plain.metres)
    newly = set(np.unique(joined.item)) - set(np.unique(plain.item))
    assert newly <= set(np.flatnonzero(joined.across_gap))


def test_the_demo_staffs_its_island_alleys(db) -> None:  # noqa: ANN001
    """The demo city staffs every alley of its four communities, the 莲桥 island's too."""
    from geo.demo import populate

    populate(db, seed=0)
    with db.connect() as conn:
        from geo.street_areas import street_areas_sql

        left = conn.execute(
            text(
                f"SELECT st.id, st.key FROM ({street_areas_sql()}) h JOIN streets st "
                "ON st.id = h.alley_id WHERE st.kind = 'alley' AND h.community_code IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.street_id = st.id "
                "AND a.valid_to IS NULL) ORDER BY st.id"
            )
        ).all()
        island = conn.execute(
            text(
                "SELECT count(*) FROM streets st JOIN assignments a ON a.street_id = st.id "
                "WHERE st.name = '莲桥' AND a.role = 'alley_steward'"
            )
        ).scalar_one()
    assert left == [] and island == 1, left
