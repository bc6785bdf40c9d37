"""Re-importing an OSM file retires the street segments gone from it (migration 0011).

The modified files are made in ``tmp_path`` from the demo fixture: one way taken out of the
XML (a way deleted in OSM), the <bounds> kept or dropped, or a small extract of another area.
Walks are real uploads (CSV fixes along a segment) matched by the service's matcher.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal
from pyproj import Geod
from sqlalchemy import Engine, text

from geo.demo import track_csv
from geo.export import read_layer
from geo.features import feature_collection
from geo.importer import import_areas, import_osm
from geo.patrol_reports import build_report
from geo.settings import city_today, get_settings
from geo.staffing import coverage_rates, duties
from geo.track_store import ingest_track, walk_network
from tests.conftest import FIXTURES

OSM = FIXTURES / "haidian_demo.osm"
STEWARD = 1
GEOD = Geod(ellps="WGS84")


def _without_way(way_id: int, dst: Path, keep_bounds: bool = True) -> Path:
    """The fixture with one way taken out (and its <bounds> line, unless ``keep_bounds``)."""
    xml = OSM.read_text(encoding="utf-8")
    xml, n = re.subn(rf'\n\s*<way id="{way_id}"[^>]*>.*?</way>', "", xml, flags=re.S)
    assert n == 1
    if not keep_bounds:
        xml, n = re.subn(r"\n\s*<bounds [^>]*/>", "", xml)
        assert n == 1
    dst.write_text(xml, encoding="utf-8")
    return dst


def _walk(engine: Engine, wkb: bytes, day: dt.date, name: str) -> dict:
    """A steward's walk along a segment on ``day`` (10:00 local, a fix every ~4 m / 3 s)."""
    line = shapely.from_wkb(bytes(wkb))
    n = max(int(GEOD.geometry_length(line) / 4), 12)
    pts = [line.interpolate(i / n, normalized=True) for i in range(n + 1)]
    start = dt.datetime.combine(day, dt.time(10), tzinfo=ZoneInfo(get_settings().timezone))
    times = pd.to_datetime([start + dt.timedelta(seconds=3 * i) for i in range(n + 1)], utc=True)
    frame = pd.DataFrame({"lon": [p.x for p in pts], "lat": [p.y for p in pts], "time": times})
    return ingest_track(engine, track_csv(frame), name, "wgs84", STEWARD, "test")


def _credited(engine: Engine, track_id: int) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text("SELECT segment_id FROM patrol_visits WHERE track_id = :t"), {"t": track_id}
            ).scalars()
        )


def _alley_length(report: dict, alley_id: int) -> float | None:
    rows = report["alleys"]
    rows = rows[(rows["alley_id"] == alley_id) & (rows["role"] == "alley_steward")]
    return None if rows.empty else float(rows["length_m"].iloc[0])


def _city(db: Engine) -> Engine:
    import_areas(db, FIXTURES / "communities.geojson", level="community")
    import_osm(db, OSM)
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (external_id, name, roles) "
                "VALUES ('S1', '王小巷', ARRAY['alley_steward'])"
            )
        )
    return db


def _assign(db: Engine, street_id: int) -> None:
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO assignments (person_id, role, street_id, valid_from) "
                "VALUES (:p, 'alley_steward', :s, :d)"
            ),
            {"p": STEWARD, "s": street_id, "d": city_today() - dt.timedelta(days=30)},
        )


_INSIDE = "ST_CoveredBy(s.geom, ST_MakeEnvelope(116.313, 39.9905, 116.325, 40.001, 4326))"


def test_reimport_retires_a_vanished_way_and_restores_it(db, tmp_path):
    """Old code: the re-import left the way's segments live (no ``segments_retired``): a new
    walk was still credited to them, today's alley length kept them, and nothing could be
    told apart from a live segment."""
    _city(db)
    today = city_today()
    yesterday = today - dt.timedelta(days=1)
    with db.connect() as conn:
        # a way of a named alley made of several ways, wholly inside the file's bounds
        way, alley = conn.execute(
            text(
                "SELECT s.osm_way_id, s.street_id FROM street_segments s "
                "JOIN streets st ON st.id = s.street_id WHERE st.kind = 'alley' "
                "AND (SELECT count(DISTINCT x.osm_way_id) FROM street_segments x "
                "     WHERE x.street_id = s.street_id) >= 2 "
                f"GROUP BY s.osm_way_id, s.street_id HAVING bool_and({_INSIDE}) "
                "AND max(s.length_m) >= 80 ORDER BY s.osm_way_id LIMIT 1"
            )
        ).one()
        way_segments = dict(
            conn.execute(
                text("SELECT id, length_m FROM street_segments WHERE osm_way_id = :w"),
                {"w": way},
            ).all()
        )
        seg, seg_wkb = conn.execute(
            text(
                "SELECT id, ST_AsBinary(geom) FROM street_segments WHERE osm_way_id = :w "
                "ORDER BY length_m DESC LIMIT 1"
            ),
            {"w": way},
        ).one()
    _assign(db, alley)

    # yesterday the steward walked it: credited
    walked = _walk(db, seg_wkb, yesterday, "yesterday.csv")
    assert walked["status"] == "matched" and seg in _credited(db, walked["track_id"])
    before_yesterday = build_report(db, "daily", yesterday)
    before_today = build_report(db, "daily", today)
    full = _alley_length(before_today, alley)
    assert full == pytest.approx(_alley_length(before_yesterday, alley))
    walked_m = before_yesterday["alleys"].set_index("alley_id").loc[alley, "walked_m"]
    assert walked_m > 0.5 * way_segments[seg]
    assert seg in set(walk_network(db).edge_ids)
    inside_before = _live_inside(db)

    # the way is deleted in OSM: re-importing the file retires its segments, deletes nothing
    counts = import_osm(db, _without_way(way, tmp_path / "edited.osm"))
    assert counts["segments_retired"] >= len(way_segments)
    assert counts["streets_retired"] == 0  # the alley keeps its other ways
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT id, retired_at FROM street_segments WHERE osm_way_id = :w"), {"w": way}
        ).all()
        visits = conn.execute(
            text("SELECT count(*) FROM patrol_visits WHERE segment_id = :s"), {"s": seg}
        ).scalar_one()
        alley_retired = conn.execute(
            text("SELECT retired_at FROM streets WHERE id = :a"), {"a": alley}
        ).scalar_one()
    assert {r.id for r in rows} == set(way_segments)
    assert all(r.retired_at is not None for r in rows)
    assert visits >= 1 and alley_retired is None

    # yesterday's report is as it was; today's alley is shorter by the way's length
    after_yesterday = build_report(db, "daily", yesterday)
    for part in ("people", "alleys"):
        assert_frame_equal(after_yesterday[part], before_yesterday[part])
    shorter = _alley_length(build_report(db, "daily", today), alley)
    assert shorter == pytest.approx(full - sum(way_segments.values()), abs=0.5)

    # the current network has lost it: matching (the cached network too), layers, export
    assert not set(way_segments) & set(walk_network(db).edge_ids)
    again = _walk(db, seg_wkb, today, "today.csv")
    assert seg not in _credited(db, again["track_id"])
    assert not set(way_segments) & set(read_layer(db, "segments")["id"])
    layer = feature_collection(db, "streets", bbox=None, limit=10_000, offset=0)
    assert not set(way_segments) & {f["properties"]["id"] for f in layer["features"]}

    # the way comes back in OSM: the original file makes its segments live again
    counts = import_osm(db, OSM)
    assert counts["segments_restored"] == len(way_segments)
    with db.connect() as conn:
        live = conn.execute(
            text(
                "SELECT count(*) FROM street_segments WHERE osm_way_id = :w AND retired_at IS NULL"
            ),
            {"w": way},
        ).scalar_one()
    assert live == len(way_segments)
    # the segments the edited file made (ways split anew without it) are retired in turn
    assert _live_inside(db) == inside_before
    assert _alley_length(build_report(db, "daily", today), alley) == pytest.approx(full)
    assert seg in set(walk_network(db).edge_ids)


def _live_inside(db: Engine) -> set[int]:
    """Ids of the live segments wholly inside the fixture's bounds."""
    with db.connect() as conn:
        return set(
            conn.execute(
                text(f"SELECT s.id FROM street_segments s WHERE retired_at IS NULL AND {_INSIDE}")
            ).scalars()
        )


def test_a_whole_alley_gone_is_retired_and_no_duty_today(db, tmp_path):
    """A file without <bounds> (the extent of its data is used): an unnamed alley (one way,
    its own street) taken out retires the street too. Old code: the alley stayed live, a
    duty today (never walkable again), in staffing and in the street layer."""
    _city(db)
    today = city_today()
    yesterday = today - dt.timedelta(days=1)
    with db.connect() as conn:
        way, alley = conn.execute(
            text(
                "SELECT s.osm_way_id, s.street_id FROM street_segments s "
                "JOIN streets st ON st.id = s.street_id WHERE st.kind = 'alley' "
                "AND st.key LIKE 'way:%' "
                f"GROUP BY s.osm_way_id, s.street_id HAVING bool_and({_INSIDE}) "
                "ORDER BY sum(s.length_m) DESC LIMIT 1"
            )
        ).one()
    _assign(db, alley)
    before = build_report(db, "daily", yesterday)
    assert _alley_length(before, alley) > 0
    assert _alley_length(build_report(db, "daily", today), alley) > 0
    rates = coverage_rates(db, "110108015")
    assert any(d["street_id"] == alley for d in duties(db, STEWARD))

    counts = import_osm(db, _without_way(way, tmp_path / "nobounds.osm", keep_bounds=False))
    assert counts["segments_retired"] >= 1 and counts["streets_retired"] >= 1
    with db.connect() as conn:
        retired = conn.execute(
            text("SELECT retired_at FROM streets WHERE id = :a"), {"a": alley}
        ).scalar_one()
    assert retired is not None
    # yesterday it was a duty and stays one; today there is nothing left to walk
    assert_frame_equal(build_report(db, "daily", yesterday)["alleys"], before["alleys"])
    assert _alley_length(build_report(db, "daily", today), alley) is None
    assert alley not in set(read_layer(db, "streets")["id"])
    assert coverage_rates(db, "110108015")["alleys"] == rates["alleys"] - 1
    mine = [d for d in duties(db, STEWARD) if d["street_id"] == alley]
    assert mine and mine[0]["street_retired"] is True


def test_an_extract_of_another_area_retires_nothing(db, tmp_path):
    """A second extract east of the demo cut, one of its ways reaching back over the cut (an
    extract keeps the ways touching it whole): its data cover many demo segments, its
    <bounds> none, so nothing of the demo is retired; nor by a far extract whose header box is
    the whole world. Old code: no such count at all (it never retired anything)."""
    _city(db)
    with db.connect() as conn:
        live = conn.execute(
            text("SELECT count(*) FROM street_segments WHERE retired_at IS NULL")
        ).scalar_one()
    nodes = [
        (1, 39.9950, 116.3140),  # inside the demo cut: the way reaches back over it
        (2, 39.9955, 116.3300),
        (3, 39.9960, 116.3400),
        (4, 39.9990, 116.3350),
    ]
    xml = (
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n"
        ' <bounds minlat="39.9905" minlon="116.3260" maxlat="40.0010" maxlon="116.3450"/>\n'
        + "".join(f' <node id="{9_000_000 + i}" lat="{y}" lon="{x}"/>\n' for i, y, x in nodes)
        + ' <way id="9000001"><nd ref="9000001"/><nd ref="9000002"/><nd ref="9000003"/>'
        '<tag k="highway" v="residential"/><tag k="name" v="东边路"/></way>\n'
        ' <way id="9000002"><nd ref="9000002"/><nd ref="9000004"/>'
        '<tag k="highway" v="footway"/></way>\n'
        "</osm>\n"
    )
    other = tmp_path / "east.osm"
    other.write_text(xml, encoding="utf-8")
    counts = import_osm(db, other)
    assert counts["segments_read"] == 3 and counts["segments_written"] == 3
    assert counts["segments_retired"] == 0 and counts["streets_retired"] == 0
    with db.connect() as conn:
        now_live = conn.execute(
            text("SELECT count(*) FROM street_segments WHERE retired_at IS NULL")
        ).scalar_one()
    assert now_live == live + 3
    # and importing the demo again retires nothing of the east extract (nor of its own)
    counts = import_osm(db, OSM)
    assert counts["segments_retired"] == 0 and counts["segments_written"] == 0
    # a header box of the whole world (some tools write one) is cut to the file's data
    far = tmp_path / "far.osm"
    far.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n"
        ' <bounds minlat="-90" minlon="-180" maxlat="90" maxlon="180"/>\n'
        ' <node id="9100001" lat="39.9000" lon="116.4000"/>\n'
        ' <node id="9100002" lat="39.9010" lon="116.4010"/>\n'
        ' <way id="9100001"><nd ref="9100001"/><nd ref="9100002"/>'
        '<tag k="highway" v="footway"/></way>\n</osm>\n',
        encoding="utf-8",
    )
    counts = import_osm(db, far)
    assert counts["segments_written"] == 1 and counts["segments_retired"] == 0
