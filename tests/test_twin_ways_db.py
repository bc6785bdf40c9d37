"""Ways drawn closer than GPS tells apart (outside tester T62 #1): a steward walking her
alley, a cycleway OSM draws 4 m beside 成府路, was credited nothing on 11 of 50 full walks,
the matcher having put the walk on the street. A stretch of a segment a walk passed
alongside, on a way within 8 m and near parallel, is credited as walked too
(geo.tracks.twins, geo.patrol_visits.visit_rows). Real PostGIS and the demo's OSM cut."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text

from geo.day_networks import walk_network
from geo.track_store import ingest_track
from geo.tracks.twins import TWIN_M, twins
from tests import test_tracks_db
from tests.test_tracks_db import _csv, _visits

demo = test_tracks_db.demo  # demo communities, OSM streets, steward 1 (王小巷)


def _alley_beside_a_street(db) -> tuple[int, int, shapely.LineString, shapely.LineString]:  # noqa: ANN001
    """The alley segment with the longest run alongside a segment of another street, both
    segments' ids and WGS-84 lines."""
    net = walk_network(db)
    tw = twins(net)
    run = pd.DataFrame({"b": tw.b, "a": tw.a, "m": tw.half * 2 * net.length[tw.b]})
    pairs = run.groupby(["b", "a"])["m"].sum().sort_values(ascending=False)
    with db.connect() as conn:
        street = dict(
            conn.execute(
                text(
                    "SELECT s.id, st.kind || ':' || st.id FROM "
                    "street_segments s JOIN streets st ON st.id = s.street_id"
                )
            ).all()
        )
    for (b, a), _m in pairs.items():
        sb, sa = int(net.edge_ids[b]), int(net.edge_ids[a])
        kind, of_b = street[sb].split(":")
        if kind == "alley" and street[sa].split(":")[1] != of_b and net.length[b] >= 40:
            return sb, sa, net.geoms_wgs84[b], net.geoms_wgs84[a]
    raise AssertionError("the demo cut has no alley beside another street")


def test_a_walk_put_on_the_street_beside_credits_the_alley_walked(demo) -> None:  # noqa: ANN001
    alley, street, line_b, line_a = _alley_beside_a_street(demo)
    # the walk along the alley, every fix drifted three quarters of the way to the street
    # (a phone's drift): nearer the street than the alley, so the matcher takes the street
    n = max(int(line_b.length / 0.00003), 20)  # ~3 m apart
    on_b = shapely.line_interpolate_point(line_b, np.linspace(0, 1, n), normalized=True)
    near_a = shapely.line_interpolate_point(line_a, shapely.line_locate_point(line_a, on_b))
    xb, yb = shapely.get_x(on_b), shapely.get_y(on_b)
    xa, ya = shapely.get_x(near_a), shapely.get_y(near_a)
    far = shapely.distance(on_b, near_a)
    assert (far < TWIN_M / 1e5 * 1.5).all()  # within the twin distance (degrees, about)
    lon, lat = xb + 0.75 * (xa - xb), yb + 0.75 * (ya - yb)
    times = pd.Series(pd.date_range("2026-11-20T01:00:00Z", periods=n, freq="2s"))
    walk = _csv(pd.DataFrame({"lon": lon, "lat": lat, "time": times}))
    item = ingest_track(demo, walk, "beside.csv", person_id=1)
    assert item["status"] == "matched", item
    got = _visits(demo, item["track_id"])
    # the matcher put it on the street; the alley beside it is credited as walked
    assert got.get(street, 0) > 0.5, got
    assert got.get(alley, 0) >= 0.8, (alley, got)
    with demo.connect() as conn:
        iv, t0, t1 = conn.execute(
            text(
                "SELECT intervals, first_time, last_time FROM patrol_visits "
                "WHERE track_id = :t AND segment_id = :s"
            ),
            {"t": item["track_id"], "s": alley},
        ).one()
    assert iv and all(0 <= lo < hi <= 1 for lo, hi in iv), iv
    assert t0 <= t1 and t0 >= times.iloc[0].to_pydatetime(), (t0, t1)
